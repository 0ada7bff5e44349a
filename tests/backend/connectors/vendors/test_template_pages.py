"""New from template without a browser: the list shows each template with what it fills and leaves
(zh-CN and English), the form comes pre-filled, saving and running it makes orders. SQLite and PG."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from backend.connectors import vendors
from backend.connectors.models import Connector
from tests.conftest import login
from tests.factories.people import make_user
from tests.factories.vendor_sources import FakeKingdee


def _admin(session, client, locale="en"):
    user = make_user(session, roles=["admin"], locale=locale)
    session.commit()
    login(client, user.username)
    return user


def _fields(html: str) -> dict[str, str]:
    """The form's filled inputs, selects (their selected option) and textareas, as a browser would post them."""
    out = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        out[name] = value.replace("&amp;", "&").replace("&#39;", "'").replace("&#34;", '"')
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        if chosen:
            out[name] = chosen.group(1)
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        out[name] = value
    for name in re.findall(r'<input type="checkbox" name="([^"]+)" checked', html):
        out[name] = "on"
    return out


def test_every_template_is_listed_with_fills_and_leaves(session, client):
    _admin(session, client)
    page = client.get("/admin/connector-templates")
    assert page.status_code == 200
    for template in vendors.templates():
        assert f'data-template="{template.key}"' in page.text
        assert template.label["en"] in page.text
    assert "Fills" in page.text and "Left to you" in page.text and "Planned delivery" in page.text


def test_list_in_chinese(session, client):
    _admin(session, client, locale="zh-CN")
    page = client.get("/admin/connector-templates")
    assert "金蝶云星空 销售订单" in page.text and "填写" in page.text and "留给您" in page.text


def test_template_contract_holds_for_every_module():
    for template in vendors.templates():
        assert set(template.mapping["columns"]) <= set(template.fills), template.key
        assert "external_id" in template.mapping["columns"]
        assert template.label.get("zh_CN") and template.label.get("en") and template.docs
        for target in template.fills:
            assert not target.startswith("data.") or target in template.data_labels


@pytest.fixture
def k3():
    bills = [{"FBillNo": f"PG-K{i}", "FDate": "2026-11-23T00:00:00", "FModifyDate": f"2026-11-23T1{i}:00:00",
              "FCustId.FNumber": "C9", "FCustId.FName": "页面客户", "FDocumentStatus": "C", "FBillAllAmount": 10.0 * i,
              "FSettleCurrId.FCode": "CNY", "lines": [{"FMaterialId.FNumber": "M1", "FQty": i, "FTaxPrice": 10.0}]}
             for i in range(1, 4)]
    server = FakeKingdee(bills).start()
    yield server
    server.stop()


def test_prefilled_form_saves_and_runs(session, client, k3):
    _admin(session, client)
    form_page = client.get("/admin/connectors/new?template=kingdee_k3cloud")
    assert form_page.status_code == 200
    assert 'id="connectors-template"' in form_page.text and "Line items" in form_page.text
    form = _fields(form_page.text)
    assert form["kind"] == "vendor" and form["vendor"] == "kingdee_k3cloud" and form["schedule_minutes"] == "5"
    assert "FBillNo" in form.values() and form["opt_form_id"] == "SAL_SaleOrder"
    form.update({"name": "page k3", "base_url": k3.base, "opt_acct_id": FakeKingdee.ACCT,
                 "opt_username": FakeKingdee.USER, "password": FakeKingdee.PASSWORD,
                 "initial_since": "2026-11-23 00:00:00", "rate_limit_per_second": "50"})
    saved = client.post("/admin/connectors", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    cid = session.exec(select(Connector.id).where(Connector.name == "page k3")).scalar_one()
    edit = client.get(f"/admin/connectors/{cid}/edit")
    assert "saved, ••••" in edit.text and FakeKingdee.PASSWORD not in edit.text
    assert _fields(edit.text)["opt_acct_id"] == FakeKingdee.ACCT
    run = client.post(f"/admin/connectors/{cid}/run", follow_redirects=True)
    assert "Run finished: 3 read, 3 created, 0 updated, 0 failed." in run.text


def test_missing_option_is_a_field_error(session, client):
    _admin(session, client)
    form = _fields(client.get("/admin/connectors/new?template=kingdee_k3cloud").text)
    form.update({"name": "page k3 bad", "base_url": "http://127.0.0.1:9/K3Cloud", "opt_acct_id": ""})
    resp = client.post("/admin/connectors", data=form)
    assert resp.status_code == 422
    assert 'id="err-opt_acct_id"' in resp.text


def test_an_http_json_template_prefills_the_generic_form(session, client, monkeypatch):
    """A template the generic pull can read (kind http_json, no fetch) opens the HTTP form pre-filled."""
    import types

    from backend.connectors.vendor_base import VendorTemplate

    template = VendorTemplate(
        key="plain_rest", kind="http_json", label={"en": "Plain REST orders", "zh_CN": "普通 REST 订单"},
        description={"en": "d", "zh_CN": "d"},
        settings={"url_template": "https://mes.example.com/api/orders?page={page}", "paging": "page",
                  "records_path": "data.items", "headers": {"X-Tenant": "t1"}},
        mapping={"columns": {"external_id": "id", "customer": "buyer", "amount": "total"}, "source": "plainrest"},
        fills=("external_id", "customer", "amount"), leaves=("planned_delivery",), docs=("https://example.com",))
    monkeypatch.setattr(vendors, "modules", lambda: {"plain_rest": types.SimpleNamespace(TEMPLATE=template)})
    _admin(session, client)
    page = client.get("/admin/connectors/new?template=plain_rest")
    form = _fields(page.text)
    assert form["kind"] == "http_json" and form["url_template"].startswith("https://mes.example.com")
    assert form["paging"] == "page" and "X-Tenant: t1" in form["headers"] and form["map_path_0"] == "id"
    assert "Plain REST orders" in page.text and "Planned delivery" in page.text
    form["name"] = "plain rest"
    assert client.post("/admin/connectors", data=form, follow_redirects=False).status_code == 303
    saved = session.exec(select(Connector).where(Connector.name == "plain rest")).scalar_one()
    assert saved.kind == "http_json" and saved.settings["records_path"] == "data.items"


def test_non_admins_cannot_see_templates(session, client):
    user = make_user(session, roles=["sales"], locale="en")
    session.commit()
    login(client, user.username)
    assert client.get("/admin/connector-templates").status_code == 403
    assert client.get("/admin/connectors/new?template=kingdee_k3cloud").status_code == 403
