"""Forms API and the "New order" page over HTTP (no browser: plain form posts and htmx fragments)."""

from __future__ import annotations

import html
import json
import re

from tests.backend.forms.formdefs import order_form
from tests.conftest import bearer, login
from tests.factories.orders import make_customer
from tests.factories.people import make_user


def publish(client, auth, definition=None):
    saved = client.put("/api/v1/forms/order/draft", json={"definition": definition or order_form()}, headers=auth)
    assert saved.status_code == 200, saved.text
    published = client.post("/api/v1/forms/order/publish", headers=auth)
    assert published.status_code == 200, published.text
    return published.json()


class TestFormsApi:
    def test_draft_publish_history_export(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = bearer(client, "des")
        assert publish(client, auth)["version"] == 1
        assert [v["status"] for v in client.get("/api/v1/forms/order/versions", headers=auth).json()] == ["published"]
        export = client.get("/api/v1/forms/order/versions/1/export", headers=auth)
        assert export.headers["content-disposition"] == 'attachment; filename="form-order-v1.json"'
        imported = client.post("/api/v1/forms/import", content=export.content, headers=auth)
        assert imported.status_code == 201 and imported.json()["version"] == 2

    def test_a_hostile_depth_is_a_422_in_words_not_a_500(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = {**bearer(client, "des"), "Accept-Language": "zh-CN", "Content-Type": "application/json"}
        deep = '{"x":[' * 400 + '1' + ']}' * 400  # storing it recursed past Python's limit: a 500
        body = ('{"definition": {"key": "deep", "name": {"en": "F"}, "fields": '
                '[{"key": "a", "type": "text", "label": {"en": "A"}, "extra": ' + deep + '}]}}')
        resp = client.put("/api/v1/forms/deep/draft", content=body, headers=auth)
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "form.too_deep"
        assert resp.json()["error"]["message"] == "表单嵌套层数过多：最多 64 层。"
        assert client.get("/api/v1/forms/deep/versions", headers=auth).json() == []

    def test_publish_errors_name_each_field_in_the_callers_language(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = {**bearer(client, "des"), "Accept-Language": "zh-CN"}
        bad = order_form()
        bad["fields"][1]["key"] = "planned_delivery"
        client.put("/api/v1/forms/order/draft", json={"definition": bad}, headers=auth)
        resp = client.post("/api/v1/forms/order/publish", headers=auth)
        assert resp.status_code == 422
        error = resp.json()["error"]
        assert error["code"] == "form.definition_invalid"
        assert error["fields"]["fields[1].key"]["message"] == "标识“planned_delivery”重复。"

    def test_validate_endpoint_lists_issues_without_storing(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = {**bearer(client, "des"), "Accept-Language": "en"}
        resp = client.post("/api/v1/forms/validate", headers=auth, json={"key": "order", "fields": [
            {"key": "s", "type": "single_select", "label": {"en": "S"}}]})
        assert resp.json() == [{"path": "fields[0].options", "code": "form.select_without_options",
                                "params": {"field": "s"}, "message": "A select field needs at least one option."}]
        assert client.get("/api/v1/forms/order", headers=auth).json() is None

    def test_sales_cannot_publish(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        resp = client.put("/api/v1/forms/order/draft", json={"definition": order_form()}, headers=bearer(client, "rep"))
        assert resp.status_code == 403

    def test_orders_api_accepts_data_validated_by_the_form(self, client, session):
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        publish(client, bearer(client, "des"))
        auth = {**bearer(client, "rep"), "Accept-Language": "en"}
        bad = client.post("/api/v1/orders", headers=auth, json={"customer_id": customer.id, "amount": "1",
                                                                "data": {"items": [{"qty": "x"}]}})
        assert bad.status_code == 422
        assert {k: v["message"] for k, v in bad.json()["error"]["fields"].items()} == {
            "planned_delivery": "This field is required.", "items[0].qty": "Enter a number."}
        ok = client.post("/api/v1/orders", headers=auth, json={"customer_id": customer.id, "amount": "1", "data": {
            "planned_delivery": "2026-12-24", "items": [{"qty": 4, "price": "2.5"}]}})
        assert ok.status_code == 201, ok.text
        assert (ok.json()["form_version"], ok.json()["data"]["total"]) == (1, 10)

    def test_evaluate_round_trip(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = bearer(client, "des")
        publish(client, auth)
        resp = client.post("/api/v1/forms/order/evaluate", headers=auth, json={
            "data": {"items": [{"qty": 2, "price": 3}, {"qty": 1, "price": 0.5}]}, "show_errors": True})
        body = resp.json()
        assert (body["data"]["total"], body["totals"]) == (6.5, {"items": {"amount": 6.5}})
        assert body["errors"] == {"planned_delivery": ["此字段为必填项。"]}

    def test_upload_and_download_a_file(self, client, session, tmp_path):
        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "rep")
        ref = client.post("/api/v1/forms/files", headers=auth,
                          files={"file": ("合同.pdf", b"%PDF-1.4 test", "application/pdf")}).json()
        assert (ref["name"], ref["size"], ref["content_type"]) == ("合同.pdf", 13, "application/pdf")
        got = client.get(f"/api/v1/forms/files/{ref['id']}", headers=auth)
        assert got.content == b"%PDF-1.4 test"
        assert client.get("/api/v1/forms/files/" + "0" * 32, headers=auth).status_code == 404


def _page_form(html: str) -> dict:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return {"csrf_token": token}


class TestNewOrderPage:
    def _setup(self, client, session):
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session, name="华东机械")
        session.commit()
        publish(client, bearer(client, "des"))
        login(client, "rep")
        return customer

    def test_page_renders_the_published_form(self, client, session):
        self._setup(client, session)
        page = client.get("/orders/new")
        assert page.status_code == 200
        assert 'name="planned_delivery"' in page.text and 'name="items.0.qty"' in page.text
        assert "华东机械" in page.text

    def test_missing_date_shows_the_error_next_to_the_field_then_saves(self, client, session):
        customer = self._setup(client, session)
        form = {**_page_form(client.get("/orders/new").text), "customer_id": str(customer.id),
                "items.0.product": "Bolt", "items.0.qty": "3", "items.0.price": "19.99"}
        resp = client.post("/orders/new", data=form)
        assert resp.status_code == 422
        error = re.search(r'id="err-form-planned_delivery"[^>]*>([^<]*)<', resp.text).group(1)
        assert error == "此字段为必填项。"
        assert 'value="Bolt"' in resp.text  # what was typed is kept
        saved = client.post("/orders/new", data={**form, "planned_delivery": "2026-12-24"}, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        order_id = int(saved.headers["location"].rsplit("/", 1)[1])
        order = client.get(f"/api/v1/orders/{order_id}").json()
        assert (order["data"]["total"], order["amount"], order["planned_delivery"]) == (59.97, "59.97", "2026-12-24")
        detail = client.get(f"/orders/{order_id}")
        assert "表单第 1 版" in detail.text and "计划交期" in detail.text

    def test_add_and_remove_rows_without_javascript(self, client, session):
        self._setup(client, session)
        base = _page_form(client.get("/orders/new").text)
        added = client.post("/orders/new", data={**base, "items.0.qty": "1", "_action": "add_row:items"})
        assert 'name="items.1.qty"' in added.text and 'name="items.2.qty"' not in added.text
        removed = client.post("/orders/new", data={**base, "items.0.qty": "1", "items.1.qty": "7",
                                                   "_action": "remove_row:items:0"})
        assert 'name="items.1.qty"' not in removed.text and 'value="7"' in removed.text

    def test_live_evaluate_returns_out_of_band_values_only(self, client, session):
        self._setup(client, session)
        resp = client.post("/orders/new/evaluate", headers={"HX-Request": "true"},
                           data={"items.0.qty": "2", "items.0.price": "3", "items.1.qty": "1", "items.1.price": "4"})
        assert resp.status_code == 200
        totals = dict(re.findall(r'<output id="([^"]+)" hx-swap-oob="innerHTML">([^<]*)</output>', resp.text))
        assert totals["form-value-total"] == "¥10.00"
        assert totals["form-value-items-0-amount"] == "¥6.00"
        assert 'id="orders-form-state" hx-swap-oob="true"' in resp.text
        assert "<input" not in resp.text


class TestAttachmentsOnTheOrderForm:
    def test_upload_keep_and_download(self, client, session, tmp_path):
        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        definition = order_form()
        definition["fields"].append({"key": "contract", "type": "attachment", "required": True,
                                     "label": {"zh-CN": "合同", "en": "Contract"}})
        publish(client, bearer(client, "des"), definition)
        login(client, "rep")
        base = _page_form(client.get("/orders/new").text)
        item = client.post("/orders/new/upload/contract", data=base, headers={"HX-Request": "true"},
                           files={"upload": ("合同.pdf", b"%PDF-1.4", "application/pdf")})
        hidden = re.search(r'<input type="hidden" name="contract" value="([^"]+)">', item.text).group(1)
        ref = json.loads(html.unescape(hidden))
        assert (ref["name"], ref["size"]) == ("合同.pdf", 8)
        saved = client.post("/orders/new", follow_redirects=False, data={
            **base, "customer_id": str(customer.id), "planned_delivery": "2026-12-24", "contract": html.unescape(hidden)})
        assert saved.status_code == 303, saved.text
        detail = client.get(saved.headers["location"])
        assert f'href="/api/v1/forms/files/{ref["id"]}"' in detail.text
        assert client.get(f"/api/v1/forms/files/{ref['id']}").content == b"%PDF-1.4"

    def test_required_attachment_missing(self, client, session):
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        definition = order_form()
        definition["fields"].append({"key": "contract", "type": "attachment", "required": True,
                                     "label": {"zh-CN": "合同", "en": "Contract"}})
        publish(client, bearer(client, "des"), definition)
        login(client, "rep")
        base = _page_form(client.get("/orders/new").text)
        resp = client.post("/orders/new", data={**base, "customer_id": str(customer.id),
                                                "planned_delivery": "2026-12-24"})
        assert resp.status_code == 422
        assert re.search(r'id="err-form-contract"[^>]*>此字段为必填项。<', resp.text)


class TestImportFile:
    def test_multipart_import_of_an_exported_file(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        auth = bearer(client, "des")
        publish(client, auth)
        exported = client.get("/api/v1/forms/order/versions/1/export", headers=auth).content
        resp = client.post("/api/v1/forms/import", headers=auth,
                           files={"file": ("form-order-v1.json", exported, "application/json")})
        assert resp.status_code == 201 and resp.json()["status"] == "draft"

    def test_import_of_a_broken_file_names_the_problem(self, client, session):
        make_user(session, username="des", roles=["designer"])
        session.commit()
        resp = client.post("/api/v1/forms/import", headers={**bearer(client, "des"), "Accept-Language": "en"},
                           files={"file": ("x.json", b"{not json", "application/json")})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["_"]["code"] == "form.json_invalid"


class TestDateTimeOnThePage:
    def test_local_time_typed_is_stored_in_utc_and_shown_back_in_local_time(self, client, session):
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        definition = order_form()
        definition["fields"].append({"key": "signed_at", "type": "datetime", "label": {"zh-CN": "签约时间", "en": "Signed"}})
        publish(client, bearer(client, "des"), definition)
        login(client, "rep")
        base = _page_form(client.get("/orders/new").text)
        form = {**base, "customer_id": str(customer.id), "signed_at": "2026-11-26T10:30"}
        shown = client.post("/orders/new", data=form)  # 422: no planned delivery yet
        assert re.search(r'name="signed_at"\s+type="datetime-local" value="2026-11-26T10:30"', shown.text)
        saved = client.post("/orders/new", data={**form, "planned_delivery": "2026-12-24"}, follow_redirects=False)
        order = client.get(f"/api/v1/orders/{saved.headers['location'].rsplit('/', 1)[1]}").json()
        assert order["data"]["signed_at"] == "2026-11-26T02:30:00Z"


class TestEvaluateAtAStage:
    def test_fields_shown_from_a_stage_follow_the_stage_sent(self, client, session):
        from backend.demo_designs import DEMO_FORM

        make_user(session, username="frm.des", roles=["designer"])
        session.commit()
        auth = bearer(client, "frm.des")
        publish(client, auth, DEMO_FORM)
        url = "/api/v1/forms/order/evaluate"
        new = client.post(url, headers=auth, json={"data": {}}).json()
        assert (new["visible"]["payment_due"], new["visible"]["carrier"]) == (True, False)
        shipping = client.post(url, headers=auth, json={"data": {}, "stage": "shipping"}).json()
        # signed for while in shipping (the order reaches delivered at sign-off); invoicing comes later
        assert (shipping["visible"]["carrier"], shipping["visible"]["signed_on"],
                shipping["visible"]["invoice_no"]) == (True, True, False)
        bad = client.post(url, headers=auth, json={"data": {}, "stage": "x" * 500})
        assert bad.status_code == 422
