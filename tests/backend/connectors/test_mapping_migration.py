"""mapping_0001 on SQLite and PostgreSQL: a connector saved before the upgrade gets its mapping as
version 1 (saved by its owner), and the connector itself is untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from backend.migrate import alembic_config
from tests.backend.test_migrations import empty_url  # noqa: F401 (fixture)

MAPPING = {"columns": {"external_id": "id", "amount": "total", "customer": "buyer.name"}, "source": "old"}


def test_existing_connectors_get_their_mapping_as_version_1(empty_url):  # noqa: F811
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "webhookfmt_0001")
    engine = sa.create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://", 1))
    at = datetime(2026, 11, 1, tzinfo=UTC)
    naive = at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, is_active, created_at) "
                             "VALUES (7, 'owner', 'Owner', 'x', true, :at)"), {"at": naive})
        conn.execute(sa.text(
            "INSERT INTO connector (id, name, kind, owner_id, is_enabled, settings, secrets, schedule_minutes, mapping, "
            "cursor, max_failures, failures_in_row, created_at, updated_at) VALUES (3, 'old shop', 'http_json', 7, "
            "true, '{}', '', 5, :mapping, '{}', 5, 0, :at, :at)"), {"at": naive, "mapping": json.dumps(MAPPING)})
    command.upgrade(cfg, "heads")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT connector_id, version, mapping, saved_by FROM connector_mapping_version")
                            ).all()
        name = conn.execute(sa.text("SELECT name FROM connector WHERE id = 3")).scalar_one()
    engine.dispose()
    assert name == "old shop"
    assert [(r.connector_id, r.version, r.mapping if isinstance(r.mapping, dict) else json.loads(r.mapping),
             r.saved_by) for r in rows] == [(3, 1, MAPPING, 7)]
