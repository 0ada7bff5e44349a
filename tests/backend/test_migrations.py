"""Migrations: the models match the revisions, and upgrading a database with data keeps the data.

Runs on SQLite and PostgreSQL with databases of its own (not the shared test database).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from backend.migrate import alembic_config, upgrade
from tests.conftest import make_test_database

FOUNDATION = "0001"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A migrated database of this test's own, then taken back to nothing."""
    url = make_test_database(request.param, tmp_path)
    command.downgrade(alembic_config(url), "base")
    return url


def test_the_models_and_the_revisions_agree(empty_url):
    upgrade(empty_url)
    command.check(alembic_config(empty_url))  # raises when a model change has no revision


def test_every_revision_downgrades_cleanly(empty_url):
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    engine = sa.create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set()


def test_upgrading_a_foundation_database_keeps_its_orders(empty_url):
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, FOUNDATION)
    engine = sa.create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://", 1))
    at = datetime(2026, 11, 1, tzinfo=UTC)
    naive = at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, is_active, created_at) "
                             "VALUES (1, 'old', 'Old User', 'x', true, :at)"), {"at": naive})
        conn.execute(sa.text("INSERT INTO customer (id, name, tier, preferred_locale, preferred_channel, "
                             "is_unsubscribed, created_at) VALUES (1, '老客户', 'key', 'zh_CN', 'email', false, :at)"),
                     {"at": naive})
        conn.execute(sa.text(
            "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
            "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at) "
            "VALUES (1, 'OLD-1', 1, 1, 1234.50, 'CNY', 'production', 'open', :at, 'manual', :data, '[]', '[]', "
            "0, 3, :at, :at)"), {"at": naive, "data": '{"colour": "红"}'})
    command.upgrade(cfg, "heads")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT number, amount, stage, version, data FROM sales_order WHERE id = 1")).one()
    engine.dispose()
    data = row.data if isinstance(row.data, dict) else __import__("json").loads(row.data)
    assert (row.number, Decimal(str(row.amount)), row.stage, row.version, data) == (
        "OLD-1", Decimal("1234.50"), "production", 3, {"colour": "红"})


def test_one_history_from_the_foundation():
    """Every revision descends from the foundation, and parallel branches are merged into one head."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_bases() == [FOUNDATION]
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()} — add a merge revision"
