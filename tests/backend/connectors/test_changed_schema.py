"""Issue 13, bad input: "a changed schema" after a connector has run fine — an HTTP source whose list
of records moved, an SQL view whose cursor column was dropped (PostgreSQL and MariaDB views; Gendan
on SQLite and PostgreSQL). The next run fails with a clear error on the health page, in the reader's
language, the cursor stays, no order is made from the changed source, and once the source is back
the connector reads on."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend import i18n
from backend.connectors import runner, service
from backend.connectors.models import Connector
from backend.orders.models import Order
from tests.backend.connectors.conftest import records
from tests.backend.connectors.test_runner import payload
from tests.backend.connectors.test_sql_pull import ROWS, _payload
from tests.conftest import login
from tests.factories.people import make_user


def _run(connection, cid, now):
    return runner.run_connector(connection, cid, now, trigger="manual", sleep=lambda s: None)


def _sources(session, source) -> list[str]:
    session.expire_all()
    return sorted(session.exec(select(Order.external_id).where(Order.source == source)).scalars())


def _message(session, admin, cid, now, locale):
    token = i18n.set_locale(locale)
    try:
        return service.get_connector(session, actor=admin, connector_id=cid, now=now).last_error_message
    finally:
        i18n.reset_locale(token)


def test_an_http_source_whose_records_moved_fails_the_run_on_the_health_page(session, connection, client, now,
                                                                              source):
    user = make_user(session, roles=["admin"], locale="en")
    session.commit()
    from backend.auth.service import load_actor

    admin = load_actor(session, user.id)
    c = service.create_connector(session, actor=admin, payload=payload(
        source.url + "/changing", name="changing shop", paging="none", records_path="items", max_retries=0), now=now)
    assert _run(connection, c.id, now).status == "ok"
    assert _sources(session, "shop") == [f"CON-B{i}" for i in range(1, 6)]
    cursor = session.get(Connector, c.id).cursor

    source.renamed = True  # the vendor moved its list: {"result": {"list": [...]}}
    source.records.extend(records(7)[5:])
    run = _run(connection, c.id, now + timedelta(minutes=5))
    assert (run.status, run.error) == ("failed", {"code": "connector.records_not_found", "params": {"path": "items"}})
    assert _sources(session, "shop") == [f"CON-B{i}" for i in range(1, 6)]  # nothing from the changed answer
    session.expire_all()
    row = session.get(Connector, c.id)
    assert (row.cursor, row.failures_in_row, row.last_status) == (cursor, 1, "failed")
    assert _message(session, admin, c.id, now, "en") == "There is no list of records at items in the answer."
    assert _message(session, admin, c.id, now, "zh_CN") == "响应中 items 处没有记录列表。"
    login(client, user.username)
    page = client.get(f"/admin/connectors/{c.id}")
    assert page.status_code == 200 and "There is no list of records at items in the answer." in page.text

    row.settings = {**row.settings, "records_path": "result.list"}  # the admin fixes the path
    session.add(row)
    session.commit()
    assert _run(connection, c.id, now + timedelta(minutes=10)).status == "ok"
    assert _sources(session, "shop") == [f"CON-B{i}" for i in range(1, 8)]


def test_a_view_whose_cursor_column_was_dropped_fails_the_run_with_its_name(session, connection, admin, now,
                                                                          sql_source):
    sql_source.put(*ROWS)
    c = service.create_connector(session, actor=admin, payload=_payload(sql_source), now=now)
    assert _run(connection, c.id, now).status == "ok"
    assert len(_sources(session, "sqlsrc")) == 6
    session.expire_all()
    cursor = session.get(Connector, c.id).cursor

    with sql_source.engine.begin() as conn:  # the ERP's upgrade renamed the column in the view
        conn.exec_driver_sql("DROP VIEW v_orders")
        conn.exec_driver_sql("CREATE VIEW v_orders AS SELECT code, buyer, total, status, updated AS modified_at "
                             "FROM src_orders")
    sql_source.put(("SQLT-7", "K1", "107.00", "已签约", "2026-11-22 09:00:00"))
    run = _run(connection, c.id, now + timedelta(minutes=5))
    assert (run.status, run.error["code"], run.read_count) == ("failed", "connector.sql_cursor_missing", 0)
    assert "SQLT-7" not in _sources(session, "sqlsrc")
    session.expire_all()
    assert session.get(Connector, c.id).cursor == cursor
    view = "src.v_orders" if sql_source.kind == "pg" else "v_orders"
    assert _message(session, admin, c.id, now, "en") == f"The view {view} has no cursor column updated."
    assert _message(session, admin, c.id, now, "zh_CN") == f"视图 {view} 中没有游标列 updated。"

    row = session.get(Connector, c.id)  # the admin points the connector at the new column
    row.settings = {**row.settings, "cursor_column": "modified_at"}
    session.add(row)
    session.commit()
    run = _run(connection, c.id, now + timedelta(minutes=10))
    assert run.status == "ok" and "SQLT-7" in _sources(session, "sqlsrc")
