"""Issue 13: "HTTP connectors against local servers that ... rate-limit" and "wrong credentials" for
the SQL kind: a source answering 429 is waited for and read (no order twice), a source that keeps
answering 429 fails the run in words; an SQL login the server refuses is a clear error on the health
page and makes nothing (PostgreSQL and MariaDB sources; Gendan on SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from backend import i18n
from backend.connectors import runner, service
from backend.connectors.models import Connector
from backend.orders.models import Order
from tests.backend.connectors.test_runner import payload
from tests.backend.connectors.test_sql_pull import ROWS, _payload


def _run(connection, cid, now, sleep=lambda s: None):
    return runner.run_connector(connection, cid, now, trigger="manual", sleep=sleep)


def _count(session, source) -> int:
    session.expire_all()
    return len(session.exec(select(Order.id).where(Order.source == source)).scalars().all())


def _message(session, admin, cid, now):
    session.expire_all()
    token = i18n.set_locale("en")
    try:
        return service.get_connector(session, actor=admin, connector_id=cid, now=now).last_error_message
    finally:
        i18n.reset_locale(token)


def test_a_source_that_rate_limits_is_waited_for_with_backoff(session, connection, admin, now, source):
    source.fail_times = 2
    sleeps: list[float] = []
    c = service.create_connector(session, actor=admin, payload=payload(
        source.url + "/limited", paging="none", records_path="items"), now=now)
    run = _run(connection, c.id, now, sleep=sleeps.append)
    assert (run.status, run.created_count) == ("ok", 5)
    assert source.requests == ["/limited"] * 3
    assert [s for s in sleeps if s >= 0.5] == [0.5, 1.0]
    assert _count(session, "shop") == 5


def test_a_source_that_keeps_rate_limiting_fails_the_run_in_words(session, connection, admin, now, source):
    source.fail_times = 100
    c = service.create_connector(session, actor=admin, payload=payload(
        source.url + "/limited", paging="none", records_path="items", max_retries=2), now=now)
    run = _run(connection, c.id, now)
    assert run.status == "failed" and "429" in str(run.error["params"])
    assert "429" in _message(session, admin, c.id, now)
    assert _count(session, "shop") == 0


def test_an_sql_login_the_server_refuses_is_a_clear_error_on_health(session, connection, admin, now, sql_source):
    sql_source.put(*ROWS)
    c = service.create_connector(session, actor=admin, payload=_payload(sql_source), now=now)
    saved = session.get(Connector, c.id)  # the ERP's DBA removed the login after the connector was saved
    saved.settings = {**saved.settings, "user": "gendan_no_such_login"}
    session.add(saved)
    session.commit()
    run = _run(connection, c.id, now)
    assert (run.status, run.error["code"]) == ("failed", "connector.sql_cannot_connect")
    message = _message(session, admin, c.id, now)
    assert "gendan_no_such_login" in message or "denied" in message.lower() or "role" in message.lower(), message
    assert _count(session, "sqlsrc") == 0
