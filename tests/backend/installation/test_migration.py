"""Revision calendar_0001 on SQLite and PostgreSQL: an upgraded database keeps its orders and
reads the default calendar (no row is written); going back drops only the calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from backend.installation import service as installation
from backend.migrate import alembic_config
from tests.conftest import make_test_database


@pytest.fixture(params=["sqlite", "postgresql"])
def before_calendar(request, tmp_path):
    url = make_test_database(request.param, tmp_path)
    command.downgrade(alembic_config(url), "titles_0001")
    return url


def test_upgrade_keeps_orders_and_reads_the_defaults(before_calendar):
    engine = sa.create_engine(before_calendar.replace("postgresql://", "postgresql+psycopg://", 1))
    at = datetime(2026, 11, 1, tzinfo=UTC)
    naive = at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, is_active, created_at, "
                             "token_generation) VALUES (901, 'cal.old', 'Old', 'x', true, :at, 0)"), {"at": naive})
        conn.execute(sa.text("INSERT INTO customer (id, name, tier, preferred_locale, preferred_channel, "
                             "is_unsubscribed, created_at) VALUES (901, 'Old customer', 'key', 'zh_CN', 'email', "
                             "false, :at)"), {"at": naive})
        conn.execute(sa.text(
            "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
            "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at) "
            "VALUES (901, 'CAL-OLD-1', 901, 901, 12.50, 'CNY', 'production', 'open', :at, 'manual', '{}', '[]', "
            "'[]', 0, 2, :at, :at)"), {"at": naive})
    command.upgrade(alembic_config(before_calendar), "calendar_0001")
    with Session(engine) as session:
        assert installation.read(installation.get_installation(session)).version == 0
        assert installation.get_installation(session).timezone == "Asia/Shanghai"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM installation_calendar")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT number FROM sales_order WHERE id = 901")).scalar_one() == "CAL-OLD-1"
    command.downgrade(alembic_config(before_calendar), "titles_0001")
    with engine.connect() as conn:
        assert "installation_calendar" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.text("SELECT version FROM sales_order WHERE id = 901")).scalar_one() == 2
    engine.dispose()
