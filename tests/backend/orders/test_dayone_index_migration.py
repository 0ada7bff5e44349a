"""Revision dayone1m_0001 on SQLite and PostgreSQL: a populated database keeps its orders, gets the
day-one covering indexes (on PostgreSQL with the columns the tiles read beside the key), answers the
on-time figures from the delivered orders' index alone with the rows that were there before, and
going back restores the plain customer index."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from backend.migrate import alembic_config
from tests.conftest import make_test_database
from tests.factories.migration_rows import naive, old_owner_and_customer

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
# id, status, planned delivery, delivered at
ORDERS = [(921, "completed", date(2026, 11, 10), datetime(2026, 11, 10, 15, 59, 59, tzinfo=UTC)),
          (922, "open", date(2026, 11, 10), datetime(2026, 11, 10, 16, 0, 0, tzinfo=UTC)),
          (923, "completed", None, datetime(2026, 11, 5, tzinfo=UTC)),
          (924, "open", date(2026, 12, 1), None)]
# the trend's own figures, read from the delivered orders' index on PostgreSQL
FIGURES = ("SELECT count(*), sum(CASE WHEN CAST(timezone('Asia/Shanghai', delivered_at) AS DATE) <= planned_delivery "
           "THEN 1 ELSE 0 END) FROM sales_order WHERE delivered_at IS NOT NULL AND planned_delivery IS NOT NULL "
           "AND status <> 'cancelled'")


@pytest.fixture(params=["sqlite", "postgresql"])
def before_indexes(request, tmp_path):
    url = make_test_database(request.param, tmp_path, label="dayone")
    command.downgrade(alembic_config(url), "insight1m_0001")
    return url


def _indexes(conn) -> dict[str, dict]:
    return {i["name"]: i for i in sa.inspect(conn).get_indexes("sales_order")}


def test_upgrade_keeps_the_orders_and_reads_them_from_the_new_indexes(before_indexes):
    engine = sa.create_engine(before_indexes.replace("postgresql://", "postgresql+psycopg://", 1))
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        assert "ix_sales_order_customer_id" in _indexes(conn)
        old_owner_and_customer(conn, engine, 921, "dayone.old", T0)
        for order_id, status, planned, delivered in ORDERS:
            conn.execute(sa.text(
                "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
                "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at, "
                "planned_delivery, delivered_at, signed_at, stages_entered) VALUES (:id, :number, 921, 921, 12.50, "
                "'CNY', 'delivered', :status, :at, 'manual', '{}', '[]', '[]', 0, 2, :at, :at, :planned, :delivered, "
                ":delivered, 0)"),
                {"id": order_id, "number": f"DAY-{order_id}", "status": status, "at": naive(engine, T0),
                 "planned": planned, "delivered": naive(engine, delivered)})
    command.upgrade(alembic_config(before_indexes), "dayone1m_0001")
    with engine.connect() as conn:
        indexes = _indexes(conn)
        assert "ix_sales_order_customer_id" not in indexes
        assert indexes["ix_sales_order_customer_figures"]["column_names"][0] == "customer_id"
        assert indexes["ix_sales_order_delivered"]["column_names"][0] == "delivered_at"
        assert conn.execute(sa.text("SELECT count(*) FROM sales_order WHERE customer_id = 921")).scalar_one() == 4
        if postgres:
            included = {n: list(i["dialect_options"]["postgresql_include"]) for n, i in indexes.items()
                        if n in ("ix_sales_order_delivered", "ix_sales_order_customer_figures")}
            assert included == {"ix_sales_order_delivered": ["planned_delivery", "status", "owner_id", "id"],
                                "ix_sales_order_customer_figures": ["status", "amount", "delivered_at",
                                                                    "planned_delivery", "owner_id", "id"]}
            conn.execute(sa.text("SET enable_seqscan = off"))
            conn.execute(sa.text("SET enable_bitmapscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {FIGURES}")))
            assert "Index Only Scan using ix_sales_order_delivered" in plan, plan
            # one second before local midnight on the planned day is on time, midnight is late
            assert tuple(conn.execute(sa.text(FIGURES)).one()) == (2, 1)
    command.downgrade(alembic_config(before_indexes), "insight1m_0001")
    with engine.connect() as conn:
        indexes = _indexes(conn)
        assert "ix_sales_order_customer_id" in indexes
        assert not {"ix_sales_order_customer_figures", "ix_sales_order_delivered"} & set(indexes)
        assert conn.execute(sa.text("SELECT count(*) FROM sales_order WHERE customer_id = 921")).scalar_one() == 4
    engine.dispose()
