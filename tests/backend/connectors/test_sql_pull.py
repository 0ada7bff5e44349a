"""Issue 13: SQL pull from a PostgreSQL view and a MariaDB view, Gendan's own database on SQLite
and PostgreSQL. Incremental by (cursor, key), ties across a batch boundary kept, the cursor moving
only with the records committed, a read-only connection, identifiers refused before any SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from backend.connectors import runner, service
from backend.connectors.models import Connector, ConnectorRecordError
from backend.connectors.schemas import ConnectorCreate, ConnectorSecrets
from backend.connectors.sql_pull import SqlPull
from backend.connectors.sql_settings import SqlPullSettings
from backend.errors import GendanError
from backend.orders.models import Order
from tests.conftest import login
from tests.factories.people import make_user

COLUMNS = {"external_id": "code", "number": "code", "customer_code": "buyer", "amount": "total", "stage": "status"}
ROWS = [(f"SQLT-{i}", f"K{i % 2}", f"{100 + i}.00", "已签约", "2026-11-20 10:00:00") for i in range(1, 4)] + [
    (f"SQLT-{i}", f"K{i % 2}", f"{100 + i}.00", "已签约", "2026-11-21 09:00:00") for i in range(4, 7)]


def _settings(src, **extra) -> dict:
    return {**src.settings, "table": "v_orders", "cursor_column": "updated", "key_column": "code", **extra}


def _payload(src, name="sql shop", **extra) -> ConnectorCreate:
    return ConnectorCreate.model_validate({
        "name": name, "kind": "sql", "settings": _settings(src, **extra), "secrets": {},
        "mapping": {"columns": COLUMNS, "stage_map": {"已签约": "approval"}, "create_customers": True,
                    "source": "sqlsrc", "timezone": "Asia/Shanghai"},
        "schedule_minutes": 5})


def _run(connection, cid, now):
    return runner.run_connector(connection, cid, now, trigger="manual")


def _orders(session) -> dict[str, Order]:
    session.expire_all()
    return {o.external_id: o for o in session.exec(select(Order).where(Order.source == "sqlsrc")).scalars()}


def _counts(run):
    return run.status, run.read_count, run.created_count, run.updated_count, run.unchanged_count, run.failed_count


def test_first_run_reads_all_then_only_new_and_changed(session, connection, admin, now, sql_source):
    sql_source.put(*ROWS)
    c = service.create_connector(session, actor=admin, payload=_payload(sql_source, batch_size=4), now=now)
    assert _counts(_run(connection, c.id, now)) == ("ok", 6, 6, 0, 0, 0)
    orders = _orders(session)
    assert sorted(orders) == [f"SQLT-{i}" for i in range(1, 7)]
    assert (str(orders["SQLT-3"].amount), orders["SQLT-3"].stage) == ("103.00", "approval")
    session.expire_all()
    assert session.get(Connector, c.id).cursor["sql_key"] == ["str", "SQLT-6"]
    sql_source.put(("SQLT-2", "K0", "999.00", "已签约", "2026-11-22 08:00:00"),
                   ("SQLT-7", "K1", "107.00", "已签约", "2026-11-22 08:00:00"))
    assert _counts(_run(connection, c.id, now + timedelta(minutes=5))) == ("ok", 2, 1, 1, 0, 0)
    assert str(_orders(session)["SQLT-2"].amount) == "999.00"
    assert _counts(_run(connection, c.id, now + timedelta(minutes=10))) == ("ok", 0, 0, 0, 0, 0)


@pytest.mark.parametrize("key_column", ["code", ""])
def test_ties_on_the_cursor_across_a_batch_boundary_are_not_lost(session, connection, admin, now, sql_source,
                                                                  key_column):
    same = "2026-11-20 10:00:00"
    sql_source.put(*[(f"SQLT-T{i}", "K1", "1.00", "已签约", same) for i in range(1, 6)])
    c = service.create_connector(session, actor=admin, payload=_payload(sql_source, batch_size=2,
                                                                        key_column=key_column), now=now)
    assert _counts(_run(connection, c.id, now))[:3] == ("ok", 5, 5)
    sql_source.put(("SQLT-T9", "K1", "1.00", "已签约", same), ("SQLT-U1", "K1", "1.00", "已签约", "2026-11-21 10:00"))
    run = _run(connection, c.id, now + timedelta(minutes=5))
    if key_column:  # a new row with the same cursor value but a later key is still found, nothing else re-read
        assert _counts(run)[:3] == ("ok", 2, 2)
    else:  # without a key only later cursor values are read: the tie row that came late is not seen
        assert _counts(run)[:3] == ("ok", 1, 1)
    assert "SQLT-U1" in _orders(session)


def test_failure_mid_batch_does_not_advance_the_cursor(session, connection, admin, now, sql_source, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_RECORDS", 1)  # record by record (the path a declined batch takes)
    sql_source.put(*ROWS)
    c = service.create_connector(session, actor=admin, payload=_payload(sql_source, batch_size=10), now=now)
    real, seen = runner._write, []

    def failing(session_, ctx, parsed, record, token):
        seen.append(record["code"])
        if record["code"] == "SQLT-3":
            raise RuntimeError("disk on fire")
        return real(session_, ctx, parsed, record, token)

    monkeypatch.setattr(runner, "_write", failing)
    run = _run(connection, c.id, now)
    assert (run.status, run.error["code"], run.created_count) == ("failed", "connector.run_internal", 2)
    session.expire_all()
    assert session.get(Connector, c.id).cursor["sql_key"] == ["str", "SQLT-2"]
    monkeypatch.setattr(runner, "_write", real)
    assert _counts(_run(connection, c.id, now + timedelta(minutes=5))) == ("ok", 4, 4, 0, 0, 0)
    assert len(_orders(session)) == 6


def test_bad_values_become_record_errors(session, connection, admin, now, sql_source):
    sql_source.put(*ROWS, ("SQLT-BAD", "K1", "lots", "已签约", "2026-11-23 10:00:00"))
    c = service.create_connector(session, actor=admin, payload=_payload(sql_source), now=now)
    assert _counts(_run(connection, c.id, now)) == ("ok", 7, 6, 0, 0, 1)
    errors = session.exec(select(ConnectorRecordError).where(ConnectorRecordError.connector_id == c.id)).scalars().all()
    assert [(e.external_id, e.record["total"], e.errors[0]["field"]) for e in errors] == [("SQLT-BAD", "lots",
                                                                                           "amount")]


def test_the_connection_is_read_only(sql_source):
    sql_source.put(*ROWS)
    settings = SqlPullSettings.model_validate(_settings(sql_source))
    with SqlPull(settings, {}) as pull:
        with pytest.raises(SQLAlchemyError) as info:
            pull.conn.exec_driver_sql("DELETE FROM src_orders" if sql_source.kind == "mariadb"
                                      else "DELETE FROM src.src_orders")
        pull.conn.rollback()
        assert "read" in str(info.value).lower()
    with sql_source.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM src_orders").scalar() == 6


def test_a_connection_that_stays_writable_is_refused(session, admin, pg_source, monkeypatch):
    monkeypatch.setattr(SqlPull, "_connect_args", lambda self: {"connect_timeout": 5})
    monkeypatch.setattr(SqlPull, "_on_connect", lambda self, conn, record: None)
    with pytest.raises(GendanError) as info:
        service.test_connection(session, actor=admin, settings=SqlPullSettings.model_validate(_settings(pg_source)),
                                secrets=ConnectorSecrets())
    assert info.value.code == "connector.sql_not_read_only"


@pytest.mark.parametrize(("change", "code"), [
    ({"table": "no_such_view"}, "connector.sql_no_such_view"),
    ({"cursor_column": "nope"}, "connector.sql_cursor_missing"),
    ({"key_column": "nope"}, "connector.sql_key_missing"),
    ({"port": 1, "connect_timeout_seconds": 2}, "connector.sql_cannot_connect"),
])
def test_test_connection_says_what_is_wrong(session, admin, sql_source, change, code):
    with pytest.raises(GendanError) as info:
        service.test_connection(session, actor=admin, settings=SqlPullSettings.model_validate(
            _settings(sql_source, **change)), secrets=ConnectorSecrets())
    assert info.value.code == code


@pytest.mark.parametrize("bad", ["orders; drop table x", 'orders"', "o'rders", "a b", "1abc"])
def test_identifier_injection_is_refused_in_the_users_language(session, client, bad):
    user = make_user(session, roles=["admin"], locale="zh-CN")
    session.commit()
    login(client, user.username)
    body = {"name": "inject", "kind": "sql", "settings": {
        "dialect": "postgresql", "host": "127.0.0.1", "database": "x", "user": "u", "table": bad,
        "cursor_column": "updated"}, "mapping": {"columns": COLUMNS}}
    resp = client.post("/api/v1/connectors", json=body)
    assert resp.status_code == 422, resp.text
    assert "table" in resp.text and any("\u4e00" <= ch <= "\u9fff" for ch in resp.text), resp.text
    assert session.exec(select(Connector).where(Connector.name == "inject")).first() is None


def test_test_connection_api_answers_in_the_users_language(session, client, pg_source):
    user = make_user(session, roles=["admin"], locale="zh-CN")
    session.commit()
    login(client, user.username)
    body = {"settings": _settings(pg_source)}
    ok = client.post("/api/v1/connectors/test-connection", json=body)
    assert ok.status_code == 200 and ok.json() == {"ok": True, "order": "src.v_orders ORDER BY updated, code"}
    missing = client.post("/api/v1/connectors/test-connection",
                          json={"settings": _settings(pg_source, cursor_column="changed_at")})
    assert missing.status_code == 422 and "游标列 changed_at" in missing.text, missing.text
