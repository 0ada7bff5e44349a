"""The order page's "Outside parties" panel in a browser, on a 390 px phone: the order's owner
(a sales rep) sees the supplier's link, revokes it, and the supplier's link then answers the
not-found page."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.auth.service import load_actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.portal import service as portal
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-US"}


def _flow(party_id: int) -> dict:
    return {"key": "pob_flow", "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "task", "key": "production", "name": {"en": "POB production", "zh-CN": "POB 生产"},
         "stage": "production", "assignees": [{"kind": "role", "role": "warehouse"}],
         "field_permissions": {"planned_delivery": "editable"},
         "external": {"kind": "supplier", "party_id": party_id, "done_field": "planned_delivery"}},
        {"type": "end", "key": "end", "stage": "completed"}],
        "edges": [{"key": "e1", "source": "start", "target": "production"},
                  {"key": "e2", "source": "production", "target": "end"}]}


def test_the_owner_revokes_the_suppliers_link_from_the_order_page(browser: Browser, base_url, seed):
    now = datetime.now(UTC)
    admin = load_actor(seed, make_user(seed, username="pob.admin", roles=["admin", "designer"], locale="en").id)
    owner = make_user(seed, username="pob.owner", roles=["sales"], locale="en")
    party = portal.create_party(seed, actor=admin, values={"kind": "supplier", "name": "POB Forge", "locale": "en"},
                                now=now)
    flows_service.save_draft(seed, actor=admin, key="pob_flow", definition=_flow(party.id), now=now)
    flows_service.publish_flow(seed, actor=admin, key="pob_flow", now=now)
    order = make_order(seed, owner=owner, customer=make_customer(seed), number="POB-1")
    service_instance.start_flow(seed, order=order, actor=admin, now=now, key="pob_flow")
    seed.commit()
    link = portal.issue_link(seed, actor=admin, party_id=party.id, order_id=order.id, node_key="production",
                             days=14, now=now)
    token, order_id = link.token, order.id

    staff_ctx = browser.new_context(**PHONE)
    supplier_ctx = browser.new_context(**PHONE)
    try:
        supplier = supplier_ctx.new_page()
        supplier.goto(f"{base_url}/p/{token}")
        expect(supplier.get_by_role("heading", name="Order POB-1")).to_be_visible()

        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "pob.owner")
        staff.goto(f"{base_url}/orders/{order_id}")
        panel = staff.locator("#portal-panel")
        expect(panel.get_by_role("heading", name="Outside parties")).to_be_visible(timeout=60_000)
        row = panel.locator("li[data-link]")
        expect(row).to_contain_text("POB Forge")
        expect(row).to_contain_text("POB production")
        expect(row).to_contain_text("Valid")
        expect(row.locator(".portal-url")).to_have_value(f"{base_url}/p/{token}")
        assert staff.evaluate("document.documentElement.scrollWidth") <= 390, "the order page scrolls sideways"

        staff.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").tap()
        expect(panel.locator("#portal-panel-flash")).to_have_text("The link was revoked.", timeout=60_000)
        expect(panel.locator("li[data-link]")).to_contain_text("Revoked")
        expect(panel.locator(".portal-url")).to_have_count(0)
        expect(panel.get_by_role("button", name="Issue link")).to_be_visible()  # the step still waits

        answer = supplier.goto(f"{base_url}/p/{token}")
        assert answer.status == 404
        expect(supplier.get_by_role("heading", name="Order POB-1")).to_have_count(0)
    finally:
        staff_ctx.close()
        supplier_ctx.close()


def test_the_supplier_uploads_a_photo_from_a_phone_and_the_owner_sees_it(browser: Browser, base_url, seed,
                                                                        tmp_path):
    from backend.forms import service as forms_service

    now = datetime.now(UTC)
    admin = load_actor(seed, make_user(seed, username="pobf.admin", roles=["admin", "designer"], locale="en").id)
    owner = make_user(seed, username="pobf.owner", roles=["sales"], locale="en")
    party = portal.create_party(seed, actor=admin, values={"kind": "supplier", "name": "POBF Mill", "locale": "en"},
                                now=now)
    forms_service.save_draft(seed, actor=admin, key="pobf_form", now=now, definition={"key": "pobf_form", "fields": [
        {"key": "pobf_photo", "type": "image", "label": {"en": "POBF goods photo", "zh-CN": "POBF 货物照片"}}]})
    form = forms_service.publish_form(seed, actor=admin, key="pobf_form", now=now)
    flow = _flow(party.id)
    flow["key"] = "pobf_flow"
    flow["nodes"][1]["field_permissions"] = {"planned_delivery": "editable", "data.pobf_photo": "editable"}
    flows_service.save_draft(seed, actor=admin, key="pobf_flow", definition=flow, now=now)
    flows_service.publish_flow(seed, actor=admin, key="pobf_flow", now=now)
    order = make_order(seed, owner=owner, customer=make_customer(seed), number="POBF-1", form_key="pobf_form",
                       form_version=form.version)
    service_instance.start_flow(seed, order=order, actor=admin, now=now, key="pobf_flow")
    seed.commit()
    link = portal.issue_link(seed, actor=admin, party_id=party.id, order_id=order.id, node_key="production",
                             days=14, now=now)
    photo = tmp_path / "crate.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    phone_ctx = browser.new_context(**PHONE)
    staff_ctx = browser.new_context(locale="en-US")
    try:
        phone = phone_ctx.new_page()
        phone.goto(f"{base_url}/p/{link.token}")
        files = phone.locator("form.portal-files[data-field=pobf_photo]")
        files.get_by_label("Add a photo").set_input_files(str(photo))
        files.get_by_role("button", name="Upload").tap()
        expect(phone.locator("#portal-saved")).to_be_visible(timeout=60_000)
        expect(phone.locator("form.portal-files[data-field=pobf_photo] .portal-file-list")).to_contain_text("crate.png")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "the portal scrolls sideways"

        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "pobf.owner")
        staff.goto(f"{base_url}/orders/{order.id}")
        expect(staff.get_by_role("link", name="crate.png")).to_be_visible(timeout=60_000)
    finally:
        phone_ctx.close()
        staff_ctx.close()
