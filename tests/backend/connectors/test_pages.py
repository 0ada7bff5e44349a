"""Connector admin pages without a browser: the form saves, secrets show as "saved, ••••" only,
fetch sample previews orders, run now creates them, non-admins get 403. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from backend.connectors.models import Connector
from backend.orders.models import Order
from tests.conftest import login
from tests.factories.people import make_user


def _form(url: str, **extra) -> dict[str, str]:
    rows = [("id", "external_id"), ("no", "number"), ("buyer.code", "customer_code"), ("buyer.name", "customer"),
            ("total", "amount"), ("status", "stage")]
    form = {"name": "page shop", "url_template": url, "paging": "next_link", "next_link_path": "links.next",
            "records_path": "data.items", "first_page": "1", "rate_limit_per_second": "50", "max_retries": "1",
            "timeout_seconds": "10", "max_records_per_run": "100", "schedule_minutes": "5", "max_failures": "5",
            "source": "pageshop", "timezone": "Asia/Shanghai", "is_enabled": "on", "create_customers": "on",
            "stage_map": "已签约=approval", "secret_header_name": "X-Api-Key", "secret_header_value": "hunter2-secret"}
    for i, (path, target) in enumerate(rows):
        form[f"map_path_{i}"], form[f"map_target_{i}"] = path, target
    return {**form, **extra}


def _admin(session, client):
    user = make_user(session, roles=["admin"], locale="en")
    session.commit()
    login(client, user.username)
    return user


def test_create_sample_run_and_health(session, client, source):
    _admin(session, client)
    url = source.url + "/orders/link?page=1"
    sample = client.post("/admin/connectors-sample", data=_form(url), headers={"HX-Request": "true"})
    assert sample.status_code == 200, sample.text
    assert "CON-B1" in sample.text and "buyer.code" in sample.text and "approval" in sample.text
    saved = client.post("/admin/connectors", data=_form(url), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    cid = session.exec(select(Connector.id).where(Connector.name == "page shop")).scalar_one()
    edit = client.get(f"/admin/connectors/{cid}/edit")
    assert "saved, ••••" in edit.text and "hunter2-secret" not in edit.text
    run = client.post(f"/admin/connectors/{cid}/run", follow_redirects=True)
    assert run.status_code == 200
    assert "Run finished: 5 read, 5 created, 0 updated, 0 failed." in run.text
    assert 'data-count="created">5<' in run.text
    assert len(session.exec(select(Order).where(Order.source == "pageshop")).scalars().all()) == 5
    assert "page shop" in client.get("/admin/connectors").text


def test_form_errors_are_shown_next_to_fields(session, client, source):
    _admin(session, client)
    resp = client.post("/admin/connectors", data=_form("ftp://nope", schedule_minutes="", map_path_0="",
                                                       schedule_cron="61 * * * *"))
    assert resp.status_code == 422
    assert 'id="err-url_template"' in resp.text


def test_sample_of_a_broken_source_is_an_error_message(session, client, source):
    _admin(session, client)
    resp = client.post("/admin/connectors-sample", data=_form(source.url + "/html"), headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "did not answer JSON" in resp.text


def test_pages_are_for_admins_only(session, client):
    user = make_user(session, roles=["sales"])
    session.commit()
    login(client, user.username)
    assert client.get("/admin/connectors").status_code == 403
    assert client.post("/admin/connectors-sample", data={}).status_code == 403


def test_edit_keeps_a_blank_secret_and_reread_and_pause_from_the_health_page(session, client, source):
    from backend.connectors import crypto

    _admin(session, client)
    url = source.url + "/orders/link?page=1"
    client.post("/admin/connectors", data=_form(url), follow_redirects=False)
    cid = session.exec(select(Connector.id).where(Connector.name == "page shop")).scalar_one()
    edited = client.post(f"/admin/connectors/{cid}", data=_form(url, name="page shop 2", secret_header_value="",
                                                                  schedule_minutes="", schedule_cron="*/10 * * * *"),
                         follow_redirects=False)
    assert edited.status_code == 303, edited.text
    session.expire_all()
    row = session.get(Connector, cid)
    assert (row.name, row.schedule_cron, row.schedule_minutes) == ("page shop 2", "*/10 * * * *", None)
    assert crypto.decrypt(row.secrets) == {"secret_header_value": "hunter2-secret"}
    page = client.post(f"/admin/connectors/{cid}/reread", data={"since": "2026-11-01"}, follow_redirects=True)
    assert "2026-11-01" in page.text
    assert client.post(f"/admin/connectors/{cid}/reread", data={"since": "soon"}).status_code == 422
    client.post(f"/admin/connectors/{cid}/enabled", data={})
    session.expire_all()
    assert session.get(Connector, cid).is_enabled is False
    assert "Paused" in client.get("/admin/connectors").text
