"""The SQL pull kind on the connector pages without a browser: the form shows its fields, "test
connection" says what is wrong in words, the sample shows the first rows and their order, saving
and running make orders; the password is never shown back. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from backend.connectors.models import Connector
from backend.orders.models import Order
from tests.conftest import login
from tests.factories.people import make_user

ROWS = [(f"SQLP-{i}", "K1", f"{10 + i}.00", "已签约", f"2026-11-2{i} 10:00:00") for i in range(1, 4)]


def _form(src, **extra) -> dict[str, str]:
    s = src.settings
    form = {"kind": "sql", "name": "sql page shop", "dialect": s["dialect"], "host": s["host"], "port": str(s["port"]),
            "database": s["database"], "user": s["user"], "schema_name": s.get("schema_name", ""),
            "password": "pw-secret-123", "table": "v_orders", "cursor_column": "updated", "key_column": "code",
            "batch_size": "2", "max_records_per_run": "100", "connect_timeout_seconds": "5",
            "statement_timeout_seconds": "10", "schedule_minutes": "5", "max_failures": "5", "source": "sqlpage",
            "timezone": "Asia/Shanghai", "is_enabled": "on", "create_customers": "on", "stage_map": "已签约=approval"}
    for i, (path, target) in enumerate([("code", "external_id"), ("code", "number"), ("buyer", "customer_code"),
                                        ("total", "amount"), ("status", "stage")]):
        form[f"map_path_{i}"], form[f"map_target_{i}"] = path, target
    return {**form, **extra}


def test_form_test_connection_sample_save_and_run(session, client, pg_source):
    user = make_user(session, roles=["admin"], locale="en")
    session.commit()
    login(client, user.username)
    pg_source.put(*ROWS)
    page = client.get("/admin/connectors/new?kind=sql")
    assert page.status_code == 200 and 'name="cursor_column"' in page.text and 'name="url_template"' not in page.text
    ok = client.post("/admin/connectors-test", data=_form(pg_source), headers={"HX-Request": "true"})
    assert "Connected read-only" in ok.text and "src.v_orders ORDER BY updated, code" in ok.text
    missing = client.post("/admin/connectors-test", data=_form(pg_source, table="nope"), headers={"HX-Request": "true"})
    assert "There is no view or table src.nope" in missing.text
    cursor = client.post("/admin/connectors-test", data=_form(pg_source, cursor_column="nope"))
    assert cursor.status_code == 422 and "has no cursor column nope" in cursor.text
    bad = client.post("/admin/connectors-test", data=_form(pg_source, table="orders; drop table x"))
    assert bad.status_code == 422 and "table" in bad.text
    sample = client.post("/admin/connectors-sample", data=_form(pg_source), headers={"HX-Request": "true"})
    assert "SQLP-1" in sample.text and "ORDER BY updated, code" in sample.text and "approval" in sample.text
    saved = client.post("/admin/connectors", data=_form(pg_source), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    cid = session.exec(select(Connector.id).where(Connector.name == "sql page shop")).scalar_one()
    edit = client.get(f"/admin/connectors/{cid}/edit")
    assert "saved, ••••" in edit.text and "pw-secret-123" not in edit.text and 'value="v_orders"' in edit.text
    resaved = client.post(f"/admin/connectors/{cid}", data=_form(pg_source, password="", batch_size="3"),
                          follow_redirects=False)
    assert resaved.status_code == 303, resaved.text
    run = client.post(f"/admin/connectors/{cid}/run", follow_redirects=True)
    assert "Run finished: 3 read, 3 created, 0 updated, 0 failed." in run.text
    assert len(session.exec(select(Order).where(Order.source == "sqlpage")).scalars().all()) == 3


def test_injection_in_the_form_is_refused_in_chinese(session, client, pg_source):
    user = make_user(session, roles=["admin"], locale="zh-CN")
    session.commit()
    login(client, user.username)
    resp = client.post("/admin/connectors", data=_form(pg_source, table='v"; drop table x; --'))
    assert resp.status_code == 422
    assert 'id="err-table"' in resp.text and "请" in resp.text
    assert session.exec(select(Connector).where(Connector.name == "sql page shop")).first() is None


def test_a_secret_typed_before_the_form_came_back_with_an_error_is_kept_sealed(session, client, pg_source):
    """The form refused (a bad view name): the password typed is not echoed, it rides the page
    sealed, and saving the corrected form with the field left empty stores it."""
    import re

    from backend.connectors import crypto

    user = make_user(session, roles=["admin"], locale="zh-CN")
    session.commit()
    login(client, user.username)
    refused = client.post("/admin/connectors", data=_form(pg_source, table='v"; drop table x; --'))
    assert refused.status_code == 422
    assert "pw-secret-123" not in refused.text and 'data-pending="password"' in refused.text
    assert "尚未保存" in refused.text  # said in the reader's language
    sealed = re.search(r'name="secrets_pending" value="([^"]+)"', refused.text).group(1)
    saved = client.post("/admin/connectors", data=_form(pg_source, password="", secrets_pending=sealed),
                        follow_redirects=False)
    assert saved.status_code == 303, saved.text
    connector = session.exec(select(Connector).where(Connector.name == "sql page shop")).scalar_one()
    assert crypto.decrypt(connector.secrets)["password"] == "pw-secret-123"
    # a token this installation did not seal is ignored, not a 500
    forged = client.post("/admin/connectors", data=_form(pg_source, name="sql page shop 2", password="",
                                                         secrets_pending="not-a-token", table='v"; x'))
    assert forged.status_code == 422
