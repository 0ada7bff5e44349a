"""Revision insight1m_0001 on SQLite and PostgreSQL: a populated database keeps its orders and events
and gets a stage visit per event that entered a stage, left when the order's next one was entered;
the trigger it installs writes the visits of events inserted afterwards; going back drops the table
the trigger and the open orders' index only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from backend.migrate import alembic_config
from backend.orders.models import OrderEvent
from tests.conftest import make_test_database
from tests.factories.migration_rows import naive, old_owner_and_customer

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
# order id -> [(hours after T0, event type, after)]
ORDERS = {
    911: [(0, "created", {"stage": "draft"}), (1, "stage_entered", {"stage": "approval"}), (2, "urged", {"urge_count": 1}),
          (30, "stage_entered", {"stage": "production"}), (30, "history", {"stage": "shipping"})],
    912: [(0, "created", {"stage": "draft"}), (4, "odd", {"stage": 7}), (5, "note", None)],
    913: [],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def before_visits(request, tmp_path):
    url = make_test_database(request.param, tmp_path, label="visits")
    command.downgrade(alembic_config(url), "partscan_0001")
    return url


def _visits(conn):
    rows = conn.execute(sa.text("SELECT e.order_id, e.type, v.stage, v.entered_at, v.left_at FROM order_stage_visit v "
                                "JOIN order_event e ON e.id = v.event_id ORDER BY e.order_id, v.entered_at, v.event_id"))
    return [(o, t, s, _hours(e), _hours(left)) for o, t, s, e, left in rows]


def _hours(at):
    if at is None:
        return None
    at = datetime.fromisoformat(at) if isinstance(at, str) else at
    return (at.replace(tzinfo=UTC) - T0).total_seconds() / 3600


def test_upgrade_backfills_the_visits_and_the_trigger_keeps_them(before_visits):
    engine = sa.create_engine(before_visits.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        old_owner_and_customer(conn, engine, 911, "visits.old", T0)
        for order_id, events in ORDERS.items():
            conn.execute(sa.text(
                "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
                "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at) "
                "VALUES (:id, :number, 911, 911, 12.50, 'CNY', 'draft', 'open', :at, 'manual', '{}', '[]', '[]', 0, 2, "
                ":at, :at)"), {"id": order_id, "number": f"VIS-{order_id}", "at": naive(engine, T0)})
            if events:
                conn.execute(sa.insert(OrderEvent.__table__), [
                    {"order_id": order_id, "type": kind, "at": T0 + timedelta(hours=h), "before": None, "after": after}
                    for h, kind, after in events])
    command.upgrade(alembic_config(before_visits), "insight1m_0001")
    with engine.connect() as conn:
        assert _visits(conn) == [(911, "created", "draft", 0, 1), (911, "stage_entered", "approval", 1, 30),
                                 (911, "stage_entered", "production", 30, 30), (911, "history", "shipping", 30, None),
                                 (912, "created", "draft", 0, None)]
    with engine.begin() as conn:  # after the upgrade the database writes them: a move, and a past one
        conn.execute(sa.insert(OrderEvent.__table__), [
            {"order_id": 912, "type": "stage_entered", "at": T0 + timedelta(hours=9), "before": {"stage": "draft"},
             "after": {"stage": "approval"}},
            {"order_id": 911, "type": "history", "at": T0 + timedelta(hours=20), "before": None,
             "after": {"stage": "tech_confirm"}}])
    with engine.connect() as conn:
        assert _visits(conn) == [(911, "created", "draft", 0, 1), (911, "stage_entered", "approval", 1, 20),
                                 (911, "history", "tech_confirm", 20, 30), (911, "stage_entered", "production", 30, 30),
                                 (911, "history", "shipping", 30, None), (912, "created", "draft", 0, 9),
                                 (912, "stage_entered", "approval", 9, None)]
    command.downgrade(alembic_config(before_visits), "partscan_0001")
    with engine.begin() as conn:
        assert "order_stage_visit" not in sa.inspect(conn).get_table_names()
        assert "ix_sales_order_open_customer_amount" not in {i["name"] for i in sa.inspect(conn).get_indexes("sales_order")}
        assert conn.execute(sa.text("SELECT count(*) FROM sales_order WHERE id BETWEEN 911 AND 913")).scalar_one() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM order_event")).scalar_one() == 10
        conn.execute(sa.insert(OrderEvent.__table__), [  # no trigger left behind
            {"order_id": 913, "type": "created", "at": T0, "before": None, "after": {"stage": "draft"}}])
    engine.dispose()
