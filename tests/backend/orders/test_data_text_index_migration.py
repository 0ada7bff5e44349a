"""Revision mendsb_0001 on SQLite and PostgreSQL: a populated database keeps its orders and gains
the data.supplier / data.carrier expression indexes, which then find its orders; going back drops
the two indexes only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from backend.migrate import alembic_config
from backend.orders.models import DATA_TEXT_INDEXES
from tests.conftest import make_test_database
from tests.factories.migration_rows import naive, old_owner_and_customer

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
DATA = {921: {"supplier": "Acme", "carrier": "SF"}, 922: {"supplier": "Bolt"}, 923: {}}


@pytest.fixture(params=["sqlite", "postgresql"])
def before_indexes(request, tmp_path):
    url = make_test_database(request.param, tmp_path, label="dataix")
    command.downgrade(alembic_config(url), "stagetime_0001")
    return url


def _indexes(engine) -> set[str]:
    """From the catalog (SQLAlchemy's SQLite inspector leaves expression indexes out)."""
    query = ("SELECT indexname FROM pg_indexes WHERE tablename = 'sales_order'" if engine.dialect.name == "postgresql"
             else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sales_order'")
    with engine.connect() as conn:
        return set(conn.execute(sa.text(query)).scalars()) & set(DATA_TEXT_INDEXES)


def test_upgrade_keeps_the_orders_and_indexes_their_supplier(before_indexes):
    engine = sa.create_engine(before_indexes.replace("postgresql://", "postgresql+psycopg://", 1))
    assert _indexes(engine) == set()
    with engine.begin() as conn:
        old_owner_and_customer(conn, engine, 921, "dataix.old", T0)
        for order_id, data in DATA.items():
            conn.execute(sa.text(
                "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
                "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at) "
                "VALUES (:id, :number, 921, 921, 12.50, 'CNY', 'draft', 'open', :at, 'manual', :data, '[]', '[]', 0, "
                "2, :at, :at)"), {"id": order_id, "number": f"DIX-{order_id}", "at": naive(engine, T0),
                                  "data": json.dumps(data)})
    command.upgrade(alembic_config(before_indexes), "mendsb_0001")
    assert _indexes(engine) == set(DATA_TEXT_INDEXES)
    supplier = ("(data ->> 'supplier')" if engine.dialect.name == "postgresql"
                else "json_extract(data, '$.supplier')")
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT id, number FROM sales_order WHERE {supplier} = 'Bolt'")).all() == [
            (922, "DIX-922")]
        assert conn.execute(sa.text("SELECT count(*) FROM sales_order")).scalar() == 3
    command.downgrade(alembic_config(before_indexes), "stagetime_0001")
    assert _indexes(engine) == set()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sales_order")).scalar() == 3
    engine.dispose()
