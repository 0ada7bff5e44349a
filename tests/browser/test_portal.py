"""The supplier portal in a browser: an admin adds nothing by hand but the link (the supplier and the
flow giving it the production step are seeded), issues it on the admin page and copies it; the
supplier opens it on a 390 px phone, sees only the granted fields, enters production progress 100%,
and the order's flow moves on to shipping while an event rule on production progress hears it.
A link with one character changed shows the same not-found page."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.forms import service as forms_service
from backend.orders.models import Order
from backend.portal import service as portal
from backend.rules import definitions as rule_definitions
from tests.browser.conftest import sign_in, wait_until
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-US"}
SECRET = "PTB-HIDDEN-MARGIN"
FORM = {"key": "ptb_form", "fields": [
    {"key": "production_progress", "type": "percent", "label": {"en": "Production progress", "zh-CN": "生产进度"},
     "min": 0, "max": 100},
    {"key": "ptb_material", "type": "text", "label": {"en": "PTB material", "zh-CN": "PTB 材料"}},
    {"key": "ptb_margin", "type": "text", "label": {"en": "PTB margin", "zh-CN": "PTB 利润"}}]}


def _flow(party_id: int) -> dict:
    return {"key": "ptb_flow", "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "task", "key": "production", "name": {"en": "Production", "zh-CN": "生产"}, "stage": "production",
         "assignees": [{"kind": "role", "role": "warehouse"}],
         "field_permissions": {"data.production_progress": "editable", "data.ptb_margin": "hidden",
                               "data.ptb_material": "read_only"},
         "external": {"kind": "supplier", "party_id": party_id, "done_field": "data.production_progress"}},
        {"type": "task", "key": "shipping", "stage": "shipping", "assignees": [{"kind": "role", "role": "warehouse"}]},
        {"type": "end", "key": "end", "stage": "completed"}],
        "edges": [{"key": "e1", "source": "start", "target": "production"},
                  {"key": "e2", "source": "production", "target": "shipping"},
                  {"key": "e3", "source": "shipping", "target": "end"}]}


def test_a_supplier_completes_production_from_a_phone_link(browser: Browser, base_url, seed):
    now = datetime.now(UTC)
    admin_user = make_user(seed, username="ptb.admin", roles=["admin", "designer"], locale="en")
    admin = load_actor(seed, admin_user.id)
    warehouse = make_user(seed, username="ptb.warehouse", roles=["warehouse"])
    party = portal.create_party(seed, actor=admin, values={"kind": "supplier", "name": "PTB Castings",
                                                           "locale": "en"}, now=now)
    form = forms_service.save_draft(seed, actor=admin, key="ptb_form", definition=FORM, now=now)
    forms_service.publish_form(seed, actor=admin, key="ptb_form", now=now)
    flows_service.save_draft(seed, actor=admin, key="ptb_flow", definition=_flow(party.id), now=now)
    flows_service.publish_flow(seed, actor=admin, key="ptb_flow", now=now)
    rule = {"key": "ptb_progress", "name": {"en": "PTB production finished"},
            "trigger": {"kind": "event", "events": ["field_changed"], "fields": ["data.production_progress"]},
            "condition": {"and": [{">=": [{"var": "data.production_progress"}, 100]},
                                  {"==": [{"var": "data.ptb_material"}, "ptb"]}]},
            "actions": [{"type": "add_tag", "tag": "ptb-produced"}], "firing": {"mode": "once_per_order"}}
    rule_definitions.save_draft(seed, actor=admin, definition=rule, now=now)
    rule_definitions.publish_rule(seed, actor=admin, key="ptb_progress", now=now)
    rule_definitions.enable_rule(seed, actor=admin, key="ptb_progress", confirm=True, now=now)
    order = make_order(seed, owner=warehouse, customer=make_customer(seed), number="PTB-1",
                       data={"ptb_margin": SECRET, "ptb_material": "ptb", "production_progress": 20},
                       form_key="ptb_form", form_version=form.version)
    service_instance.start_flow(seed, order=order, actor=admin, now=now, key="ptb_flow")
    seed.commit()
    order_id = order.id

    staff_ctx = browser.new_context(locale="en-US")
    phone_ctx = browser.new_context(**PHONE)
    try:
        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "ptb.admin")
        staff.goto(f"{base_url}/admin/portal")
        form = staff.locator("#portal-link-form")
        form.locator("select[name=party_id]").select_option(label="PTB Castings")
        form.get_by_label("Order number (empty: the party's inbox link)").fill("PTB-1")
        form.get_by_label("Flow step key").fill("production")
        form.get_by_role("button", name="Issue link").click()
        staff.wait_for_url(f"{base_url}/admin/portal")
        url = staff.locator("#portal-links tr.new .portal-url").input_value()
        assert "/p/" in url

        phone = phone_ctx.new_page()
        phone.goto(url)
        expect(phone.get_by_role("heading", name="Order PTB-1")).to_be_visible()
        expect(phone.locator("#portal-step-state")).to_have_text("Waiting for you")
        expect(phone.locator("#portal-read")).to_contain_text("ptb")  # the read-only material field
        assert SECRET not in phone.content() and "PTB margin" not in phone.content()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the portal scrolls sideways on a phone ({width}px)"

        progress = phone.get_by_label("Production progress")
        expect(progress).to_have_value("20")
        progress.fill("100")
        phone.get_by_role("button", name="Save", exact=True).tap()
        expect(phone.locator("#portal-saved")).to_be_visible(timeout=60_000)
        expect(phone.locator("#portal-step-state")).to_have_text("Done")
        expect(phone.locator("#portal-form")).to_have_count(0)  # nothing more to enter

        def moved():
            seed.expire_all()
            row = seed.exec(select(Order).where(Order.id == order_id)).scalars().one()
            return row if row.stage == "shipping" else None

        row = wait_until(moved)
        assert row is not None, "the flow did not move on to shipping"
        assert row.data["production_progress"] == 100 and "ptb-produced" in row.tags

        # the staff order page shows who did it
        staff.goto(f"{base_url}/orders/{order_id}")
        expect(staff.get_by_text("PTB Castings", exact=False).first).to_be_visible()

        tampered = url[:-1] + ("A" if url[-1] != "A" else "B")
        answer = phone.goto(tampered)
        assert answer.status == 404
        expect(phone.locator("#portal-not-found")).to_be_visible()
        assert "PTB-1" not in phone.content()
    finally:
        phone_ctx.close()
        staff_ctx.close()


def test_the_designer_gives_a_step_to_a_supplier(page, base_url, seed):
    from tests.browser.test_flow_designer import FlowDesignerPage

    now = datetime.now(UTC)
    designer_user = make_user(seed, username="ptd.designer", roles=["designer", "admin"], locale="en")
    party = portal.create_party(seed, actor=load_actor(seed, designer_user.id),
                                values={"kind": "supplier", "name": "PTD Mill"}, now=now)
    seed.commit()
    sign_in(page, base_url, "ptd.designer")
    designer = FlowDesignerPage(page, base_url)
    designer.open("ptd_flow")
    designer.click("Start from B2B template")
    page.wait_for_function("() => window.gendanFlowDesigner.lf.getGraphData().nodes.length > 5")
    designer.select_node("production_progress")
    designer.set("Given to someone outside", "supplier")
    designer.props.get_by_label("Which company", exact=True).select_option(label="PTD Mill")
    designer.set("Step done when field", "data.production_progress")
    designer.set("Field permissions (JSON)", '{"data.production_progress": "editable"}')
    designer.apply()
    designer.click("Save draft")
    expect(page.locator("#fd-status")).to_contain_text("Draft saved.")
    page.reload()
    expect(designer.canvas).to_be_visible()
    designer.select_node("production_progress")
    expect(designer.props.get_by_label("Given to someone outside", exact=True)).to_have_value("supplier")
    expect(designer.props.get_by_label("Which company", exact=True)).to_have_value(str(party.id))
    saved = flows_service.get_row(seed, "ptd_flow", 1).definition
    node = next(n for n in saved["nodes"] if n["key"] == "production_progress")
    assert node["external"] == {"kind": "supplier", "party_id": party.id, "party_field": None,
                                "done_field": "data.production_progress", "done_at": 100.0}


def test_a_portal_user_added_by_the_admin_signs_in_on_a_phone(browser: Browser, base_url, seed):
    now = datetime.now(UTC)
    admin_user = make_user(seed, username="ptu.admin", roles=["admin", "designer"], locale="en")
    admin = load_actor(seed, admin_user.id)
    warehouse = make_user(seed, username="ptu.warehouse", roles=["warehouse"])
    party = portal.create_party(seed, actor=admin, values={"kind": "carrier", "name": "PTU Freight",
                                                           "locale": "en"}, now=now)
    flow = _flow(party.id)
    flow["key"] = "ptu_flow"
    flow["nodes"][1]["external"] = {"kind": "carrier", "party_id": party.id}
    flows_service.save_draft(seed, actor=admin, key="ptu_flow", definition=flow, now=now)
    flows_service.publish_flow(seed, actor=admin, key="ptu_flow", now=now)
    order = make_order(seed, owner=warehouse, customer=make_customer(seed), number="PTU-1",
                       data={"ptb_material": "steel"})
    service_instance.start_flow(seed, order=order, actor=admin, now=now, key="ptu_flow")
    portal.issue_link(seed, actor=admin, party_id=party.id, order_id=order.id, node_key="production", days=7,
                      now=now)
    seed.commit()

    staff_ctx = browser.new_context(locale="en-US")
    phone_ctx = browser.new_context(**PHONE)
    try:
        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "ptu.admin")
        staff.goto(f"{base_url}/admin/portal")
        form = staff.locator("#portal-user-form")
        form.locator("select[name=party_id]").select_option(label="PTU Freight")
        form.get_by_label("User name").fill("ptu.zhang")
        form.get_by_label("Name", exact=True).fill("Zhang at PTU")
        form.get_by_label("Password").fill("a long secret 42")
        form.get_by_role("button", name="Add portal user").click()
        expect(staff.locator("#portal-users tr[data-user='ptu.zhang']")).to_contain_text("PTU Freight")

        phone = phone_ctx.new_page()
        phone.goto(f"{base_url}/portal")
        phone.get_by_label("User name").fill("ptu.zhang")
        phone.get_by_label("Password").fill("a long secret 42")
        phone.get_by_role("button", name="Sign in").tap()
        expect(phone.get_by_role("heading", name="My orders")).to_be_visible()
        row = phone.locator("li[data-order='PTU-1']")
        expect(row).to_contain_text("Waiting for you")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the portal inbox scrolls sideways on a phone ({width}px)"
        row.get_by_role("link", name="PTU-1").tap()
        expect(phone.get_by_role("heading", name="Order PTU-1")).to_be_visible()
        expect(phone.locator("#portal-read")).to_contain_text("steel")
    finally:
        phone_ctx.close()
        staff_ctx.close()
