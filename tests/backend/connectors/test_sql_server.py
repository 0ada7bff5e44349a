"""SQL Server through the pinned driver (pymssql 2.4.6, FreeTDS inside its wheel), without a
server: none runs on this machine or in CI (docs/connectors.md). What can be checked here: the
driver imports, the batch's SELECT compiles for the mssql dialect with TOP and the keyset
condition in cursor order, and a server that does not answer (a closed port) is said in words, in
the reader's language, on the test-connection API and on the connector's health page after a run,
never a 500. SQLite and PostgreSQL (Gendan's own database)."""

from __future__ import annotations

import socket
from datetime import datetime

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects import mssql

from backend.connectors import crypto, runner
from backend.connectors.models import Connector
from backend.connectors.schemas import ConnectorCreate
from backend.connectors.sql_pull import DRIVERS, SqlPull
from backend.connectors.sql_settings import SqlPullSettings
from tests.conftest import login
from tests.factories.people import make_user


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(**extra) -> dict:
    return {"dialect": "mssql", "host": "127.0.0.1", "port": _closed_port(), "database": "erp", "user": "reader",
            "schema_name": "dbo", "table": "v_orders", "cursor_column": "updated", "key_column": "code",
            "connect_timeout_seconds": 3, **extra}


def test_the_pinned_driver_imports():
    import pymssql

    assert DRIVERS["mssql"] == ("mssql+pymssql", "pymssql") and pymssql.__version__ == "2.4.6"


def test_a_batch_compiles_to_top_in_cursor_then_key_order():
    pull = SqlPull(SqlPullSettings.model_validate(_settings()), {})
    pull.table = Table("v_orders", MetaData(), Column("code", String(40)), Column("buyer", String(40)),
                       Column("updated", DateTime), Column("n", Integer), schema="dbo")
    after = (datetime(2026, 11, 20, 10, 0), "SQLT-3")
    sql = str(pull.query(after, 500).compile(dialect=mssql.dialect(), compile_kwargs={"literal_binds": True}))
    flat = " ".join(sql.split())
    assert flat.startswith("SELECT TOP 500 dbo.v_orders.code, dbo.v_orders.buyer"), flat
    assert "FROM dbo.v_orders WHERE dbo.v_orders.updated IS NOT NULL" in flat
    assert ("dbo.v_orders.updated > '2026-11-20 10:00:00' OR dbo.v_orders.updated = '2026-11-20 10:00:00' "
            "AND dbo.v_orders.code > 'SQLT-3'") in flat
    assert flat.endswith("ORDER BY dbo.v_orders.updated, dbo.v_orders.code"), flat
    assert "LIMIT" not in flat  # SQL Server has none
    # a page further on: OFFSET ... FETCH, as the dialect compiles it once connected to SQL Server
    # 2012 or later (it reads the server's version on connect; without one it numbers rows)
    dialect = mssql.dialect()
    dialect.server_version_info, dialect._supports_offset_fetch = (16, 0), True
    paged = " ".join(str(pull.query(None, 50).offset(100).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True})).split())
    assert paged.endswith("ORDER BY dbo.v_orders.updated, dbo.v_orders.code OFFSET 100 ROWS FETCH FIRST 50 ROWS ONLY"), paged


def test_a_closed_port_is_said_in_words_in_the_users_language(session, client):
    user = make_user(session, roles=["admin"], locale="zh-CN")
    session.commit()
    login(client, user.username)
    resp = client.post("/api/v1/connectors/test-connection", json={"settings": _settings()})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "connector.sql_cannot_connect"
    assert "无法连接到 127.0.0.1 上的数据库" in error["message"] and "Connection refused" in error["message"]
    assert "b'" not in error["message"] and "DB-Lib" not in error["message"]  # FreeTDS's lines, decoded


def test_the_health_page_shows_a_failed_run_in_words(session, connection, client, admin, now):
    # saved while the server answered (saving tests the connection), which has stopped since
    payload = ConnectorCreate.model_validate({
        "name": "erp sqlserver", "kind": "sql", "settings": _settings(), "secrets": {"password": "pw-123"},
        "mapping": {"columns": {"external_id": "code", "amount": "n", "customer_code": "buyer"},
                    "create_customers": True, "source": "mssql", "timezone": "Asia/Shanghai"},
        "schedule_minutes": 5})
    created = Connector(name=payload.name, kind="sql", owner_id=admin.user_id, is_enabled=True,
                        settings=payload.settings.model_dump(mode="json"),
                        secrets=crypto.encrypt({"password": "pw-123"}), schedule_minutes=5,
                        mapping=payload.mapping.model_dump(mode="json"), max_failures=5, next_run_at=now,
                        created_at=now, updated_at=now)
    session.add(created)
    session.commit()
    run = runner.run_connector(connection, created.id, now, trigger="manual")
    assert run.status == "failed" and run.error["code"] == "connector.sql_cannot_connect"
    user = make_user(session, roles=["admin"], locale="zh-CN", username="mssql.zh")
    session.commit()
    login(client, user.username)
    page = client.get(f"/admin/connectors/{created.id}")
    assert page.status_code == 200
    assert "无法连接到 127.0.0.1 上的数据库" in page.text and "pw-123" not in page.text


@pytest.fixture
def now():
    from backend.clock import utcnow

    return utcnow()
