"""Revision stagetime_0001 on SQLite and PostgreSQL: a populated database (visits written by
insight1m_0001's trigger) keeps its visits and gets each left visit's whole seconds, floor(left) -
floor(entered) as the reports count them; the trigger then writes them for events inserted
afterwards (a move, a past one that splits a visit, two at one moment); going back drops the column
and the trigger goes on writing visits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from backend.migrate import alembic_config
from backend.orders.models import OrderEvent
from tests.conftest import make_test_database
from tests.factories.migration_rows import naive, old_owner_and_customer

T0 = datetime(2026, 11, 1, 2, 0, 0, 700000, tzinfo=UTC)  # a fraction of a second: floored, as EpochSeconds
# order id -> [(seconds after T0, event type, after)]
ORDERS = {
    921: [(0, "created", {"stage": "draft"}), (3600.5, "stage_entered", {"stage": "approval"}),
          (7200, "urged", {"urge_count": 1}), (90000, "stage_entered", {"stage": "production"}),
          (90000, "history", {"stage": "shipping"})],
    922: [(0, "created", {"stage": "draft"}), (400, "odd", {"stage": 7})],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def before_seconds(request, tmp_path):
    url = make_test_database(request.param, tmp_path, label="seconds")
    command.downgrade(alembic_config(url), "insight1m_0001")
    return url


def _floor(offset: float) -> int:
    return int((T0 + timedelta(seconds=offset)).timestamp() // 1)


def _seconds(conn):
    rows = conn.execute(sa.text("SELECT order_id, stage, seconds FROM order_stage_visit "
                                "ORDER BY order_id, entered_at, event_id"))
    return [tuple(r) for r in rows]


def test_upgrade_fills_the_seconds_and_the_trigger_keeps_them(before_seconds):
    engine = sa.create_engine(before_seconds.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        old_owner_and_customer(conn, engine, 921, "seconds.old", T0)
        for order_id, events in ORDERS.items():
            conn.execute(sa.text(
                "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
                "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at, "
                "stages_entered) VALUES (:id, :number, 921, 921, 12.50, 'CNY', 'draft', 'open', :at, 'manual', '{}', "
                "'[]', '[]', 0, 2, :at, :at, 0)"), {"id": order_id, "number": f"SEC-{order_id}", "at": naive(engine, T0)})
            conn.execute(sa.insert(OrderEvent.__table__), [
                {"order_id": order_id, "type": kind, "at": T0 + timedelta(seconds=s), "before": None, "after": after}
                for s, kind, after in events])
    command.upgrade(alembic_config(before_seconds), "stagetime_0001")
    approval = _floor(90000) - _floor(3600.5)
    with engine.connect() as conn:
        assert _seconds(conn) == [(921, "draft", _floor(3600.5) - _floor(0)), (921, "approval", approval),
                                  (921, "production", 0), (921, "shipping", None), (922, "draft", None)]
        assert _seconds(conn)[0][2] == 3601  # 02:00:00.7 to 03:00:01.2: floor to floor (3600.5 s)
        names = {i["name"]: i["column_names"] for i in sa.inspect(conn).get_indexes("order_stage_visit")}
        assert names["ix_order_stage_visit_stage_seconds"] == ["stage", "seconds", "entered_at"]
        assert "ix_order_stage_visit_stage" not in names
        if engine.dialect.name == "postgresql":  # a team head's visits read from the per-order index alone
            order = next(i for i in sa.inspect(conn).get_indexes("order_stage_visit")
                         if i["name"] == "ix_order_stage_visit_order")
            assert order["column_names"] == ["order_id", "entered_at", "event_id"]
            assert order["dialect_options"]["postgresql_include"] == ["stage", "seconds"]
    with engine.begin() as conn:  # the trigger: a move, a past stage inside approval, two at one moment
        conn.execute(sa.insert(OrderEvent.__table__), [
            {"order_id": 922, "type": "stage_entered", "at": T0 + timedelta(seconds=900), "before": None,
             "after": {"stage": "approval"}},
            {"order_id": 921, "type": "history", "at": T0 + timedelta(seconds=50000), "before": None,
             "after": {"stage": "tech_confirm"}}])
    with engine.begin() as conn:
        conn.execute(sa.insert(OrderEvent.__table__), [
            {"order_id": 922, "type": "stage_entered", "at": T0 + timedelta(seconds=1000), "before": None,
             "after": {"stage": "production"}}])
    with engine.connect() as conn:
        assert _seconds(conn) == [(921, "draft", 3601), (921, "approval", _floor(50000) - _floor(3600.5)),
                                  (921, "tech_confirm", _floor(90000) - _floor(50000)), (921, "production", 0),
                                  (921, "shipping", None), (922, "draft", 900), (922, "approval", 100),
                                  (922, "production", None)]
    command.downgrade(alembic_config(before_seconds), "insight1m_0001")
    with engine.begin() as conn:
        assert "seconds" not in {c["name"] for c in sa.inspect(conn).get_columns("order_stage_visit")}
        names = {i["name"]: i["column_names"] for i in sa.inspect(conn).get_indexes("order_stage_visit")}
        assert names["ix_order_stage_visit_stage"] == ["stage", "entered_at", "left_at"]
        conn.execute(sa.insert(OrderEvent.__table__), [  # insight1m_0001's trigger again
            {"order_id": 922, "type": "stage_entered", "at": T0 + timedelta(seconds=2000), "before": None,
             "after": {"stage": "shipping"}}])
        left = conn.execute(sa.text("SELECT count(*) FROM order_stage_visit WHERE order_id = 922 AND left_at IS NULL"))
        assert left.scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM order_stage_visit")).scalar_one() == 9
    engine.dispose()
