"""Migrations: the models match the revisions, and upgrading a database with data keeps the data.

Runs on SQLite and PostgreSQL with databases of its own (not the shared test database).
"""

from __future__ import annotations

import json
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


def test_flow_titles_written_in_chinese_gain_their_other_languages(empty_url):
    """A to-do and a notice stored with the step's Chinese name read in English after the upgrade."""
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "audit_0001")
    engine = sa.create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://", 1))
    at = datetime(2026, 11, 1, tzinfo=UTC)
    naive = at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at
    definition = {"key": "b2b", "version": 1, "name": {"zh-CN": "B2B 订单履约", "en": "B2B fulfilment"},
                  "nodes": [{"key": "manager_approval", "type": "approval",
                             "name": {"zh-CN": "销售经理审批", "en": "Sales manager approval"}}], "edges": []}
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, is_active, created_at) "
                             "VALUES (1, 'old', 'Old User', 'x', true, :at)"), {"at": naive})
        conn.execute(sa.text("INSERT INTO customer (id, name, tier, preferred_locale, preferred_channel, "
                             "is_unsubscribed, created_at) VALUES (1, '老客户', 'key', 'zh_CN', 'email', false, :at)"),
                     {"at": naive})
        conn.execute(sa.text(
            "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
            "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at) "
            "VALUES (1, 'OLD-1', 1, 1, 1, 'CNY', 'approval', 'open', :at, 'manual', '{}', '[]', '[]', "
            "0, 1, :at, :at)"), {"at": naive})
        conn.execute(sa.text(
            "INSERT INTO flow_definition (id, key, version, status, definition, created_at, updated_at) "
            "VALUES (1, 'b2b', 1, 'published', :d, :at, :at)"), {"d": json.dumps(definition), "at": naive})
        conn.execute(sa.text(
            "INSERT INTO flow_instance (id, order_id, definition_id, flow_key, flow_version, status, state, "
            "version, created_at, updated_at) VALUES (7, 1, 1, 'b2b', 1, 'running', '{}', 1, :at, :at)"),
            {"at": naive})
        for dedupe, title, node in (("flow:7:todo:manager_approval-1:1", "销售经理审批", "manager_approval"),
                                    ("rule:3:todo:1", "销售经理审批", None)):
            conn.execute(sa.text(
                "INSERT INTO inbox_item (dedupe_key, order_id, assignee_id, kind, title, body, priority, state, "
                "flow_instance_id, node_key, source, payload, created_at) VALUES "
                "(:k, 1, 1, 'approval', :t, '', 'normal', 'open', :i, :n, 'flow', '{}', :at)"),
                {"k": dedupe, "t": title, "i": 7 if node else None, "n": node, "at": naive})
        conn.execute(sa.text(
            "INSERT INTO notification (dedupe_key, user_id, order_id, title, body, created_at, channels) "
            "VALUES ('flow:7:rejected:3', 1, 1, 'B2B 订单履约', 'flow.rejected', :at, '[]')"), {"at": naive})
    command.upgrade(cfg, "heads")
    with engine.connect() as conn:
        todos = conn.execute(sa.text("SELECT dedupe_key, title, title_i18n FROM inbox_item ORDER BY id")).all()
        notice = conn.execute(sa.text("SELECT title, title_i18n FROM notification")).one()
    engine.dispose()

    def loaded(value):
        return json.loads(value) if isinstance(value, str) else value

    assert [(t.title, loaded(t.title_i18n)) for t in todos] == [
        ("销售经理审批", {"zh-CN": "销售经理审批", "en": "Sales manager approval"}),
        ("销售经理审批", None),  # a rule's to-do: its title is the rule's own text, left as it is
    ]
    assert (notice.title, loaded(notice.title_i18n)) == ("B2B 订单履约", {"zh-CN": "B2B 订单履约", "en": "B2B fulfilment"})


def test_a_customers_single_contact_becomes_its_primary_contact(empty_url):
    """contacts_0001: the one contact a customer had is its primary contact after the upgrade."""
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "titles_0001")
    engine = sa.create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://", 1))
    at = datetime(2026, 11, 1, tzinfo=UTC)
    naive = at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at
    with engine.begin() as conn:
        for cid, contact, email, phone in ((1, "FRM-王经理", "wang@example.com", "13800000000"),
                                           (2, None, "buyer@example.com", None), (3, None, None, None)):
            conn.execute(sa.text(
                "INSERT INTO customer (id, name, contact_name, email, phone, tier, preferred_locale, "
                "preferred_channel, is_unsubscribed, created_at) VALUES (:id, :name, :c, :e, :p, 'key', :l, "
                "'email', false, :at)"),
                {"id": cid, "name": f"FRM-客户{cid}", "c": contact, "e": email, "p": phone,
                 "l": "en" if cid == 2 else "zh_CN", "at": naive})
    command.upgrade(cfg, "heads")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT customer_id, name, email, phone, locale, is_primary "
                                    "FROM customer_contact ORDER BY customer_id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        (1, "FRM-王经理", "wang@example.com", "13800000000", "zh_CN", True),
        (2, "FRM-客户2", "buyer@example.com", None, "en", True),  # no contact name: the customer's name
    ]
