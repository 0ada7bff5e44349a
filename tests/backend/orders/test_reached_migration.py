"""Revision reportfast_0001 on SQLite and PostgreSQL: a populated database keeps its orders and gets
`delivered_at` and `stages_entered` filled from the event log and the signatures; going back drops
only the two columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from backend.migrate import alembic_config
from backend.orders.models import OrderEvent
from engine.reports.reached import OTHER_STAGE_BIT, STAGE_BITS
from tests.conftest import make_test_database
from tests.factories.migration_rows import naive, old_owner_and_customer
from tests.factories.order_events import reached_by_events, reached_stored

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
SIGNED = T0 + timedelta(days=3, hours=5)
# order id -> (signed at, [(hours after T0, event type, stage entered or None)])
ORDERS = {
    901: (None, [(0, "created", "draft"), (1, "stage_entered", "approval"), (2, "urged", None),
                 (30, "stage_entered", "delivered"), (40, "stage_entered", "production"),
                 (50, "stage_entered", "delivered"), (60, "history", "completed")]),
    902: (SIGNED, [(0, "created", "draft"), (90, "stage_entered", "delivered")]),  # the signature wins
    903: (SIGNED, []),  # signed, no stage events
    904: (None, [(0, "created", "qa_hold"), (5, "stage_entered", "invoicing")]),  # a stage of its own
    905: (None, []),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def before_reached(request, tmp_path):
    url = make_test_database(request.param, tmp_path, label="reached")
    command.downgrade(alembic_config(url), "score1m_0001")
    return url


def test_upgrade_fills_both_columns_from_the_event_log_and_keeps_the_orders(before_reached):
    engine = sa.create_engine(before_reached.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        old_owner_and_customer(conn, engine, 901, "reached.old", T0)
        for order_id, (signed, events) in ORDERS.items():
            conn.execute(sa.text(
                "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
                "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at, "
                "signed_at) VALUES (:id, :number, 901, 901, 12.50, 'CNY', 'draft', 'open', :at, 'manual', '{}', "
                "'[]', '[]', 0, 2, :at, :at, :signed)"),
                {"id": order_id, "number": f"RCH-{order_id}", "at": naive(engine, T0), "signed": naive(engine, signed)})
            if events:
                conn.execute(sa.insert(OrderEvent.__table__), [
                    {"order_id": order_id, "type": kind, "at": T0 + timedelta(hours=h), "before": None,
                     "after": {"stage": stage} if stage else {"urge_count": 1}} for h, kind, stage in events])
    command.upgrade(alembic_config(before_reached), "reportfast_0001")
    with Session(engine) as session:
        stored = reached_stored(session)
        assert stored == reached_by_events(session)
    assert stored == {
        901: (T0 + timedelta(hours=30), STAGE_BITS["draft"] | STAGE_BITS["approval"] | STAGE_BITS["delivered"]
              | STAGE_BITS["production"] | STAGE_BITS["completed"]),
        902: (SIGNED, STAGE_BITS["draft"] | STAGE_BITS["delivered"]),
        903: (SIGNED, 0),
        904: (T0 + timedelta(hours=5), OTHER_STAGE_BIT | STAGE_BITS["invoicing"]),
        905: (None, 0),
    }
    command.downgrade(alembic_config(before_reached), "score1m_0001")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("sales_order")}
        assert "delivered_at" not in columns and "stages_entered" not in columns and "signed_at" in columns
        assert conn.execute(sa.text("SELECT count(*) FROM sales_order WHERE id BETWEEN 901 AND 905")).scalar_one() == 5
        assert conn.execute(sa.text("SELECT count(*) FROM order_event")).scalar_one() == 11
    engine.dispose()
