"""The user walkthrough audit (branch uxaudit): what a role met on a phone or in zh-CN that blocked
or confused it, each checked the way that person uses the page."""

from __future__ import annotations

from datetime import UTC, date, datetime

from playwright.sync_api import Page, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"width": 390, "height": 844}


def _actor(user, roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name, roles=frozenset(roles),
                 department_id=user.department_id)


def _planned_delivery_flow(key: str) -> dict:
    """One warehouse step that asks for the order's planned delivery date (a column, not a form field)."""
    nodes = [{"type": "start", "key": "start", "x": 100, "y": 100},
             {"type": "task", "key": "produce", "name": {"en": "UXA produce", "zh-CN": "UXA 下生产单"},
              "assignees": [{"kind": "users", "user_ids": []}], "required_fields": ["planned_delivery"],
              "x": 280, "y": 100},
             {"type": "end", "key": "end", "x": 460, "y": 100}]
    edges = [{"key": "e1", "source": "start", "target": "produce"}, {"key": "e2", "source": "produce", "target": "end"}]
    return {"key": key, "name": {"en": "UXA flow", "zh-CN": "UXA 流程"}, "nodes": nodes, "edges": edges}


def test_uxaudit_order_page_todo_asks_for_the_planned_delivery_by_name_with_a_date(page: Page, base_url, seed):
    """The warehouse's to-do on the order page asked for `planned_delivery` in a bare text box, empty
    although the order had a date; typing 明天 there answered 500. Now it reads 计划交期, is a date
    input holding the order's date, and completing it moves the flow on."""
    keeper = make_user(seed, username="uxa.keeper", roles=["warehouse"], locale="zh_CN", display_name="UXA 仓管")
    rep = make_user(seed, username="uxa.rep1", roles=["sales"], locale="zh_CN")
    designer = make_user(seed, username="uxa.designer1", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number="UXA-PD-1", customer=make_customer(seed, name="UXA 客户一"),
                       planned_delivery=date(2027, 1, 10))
    definition = _planned_delivery_flow("uxa_pd")
    definition["nodes"][1]["assignees"] = [{"kind": "users", "user_ids": [keeper.id]}]
    now = datetime.now(UTC)
    flows_service.save_draft(seed, actor=_actor(designer, {"designer", "admin"}), key="uxa_pd",
                             definition=definition, now=now)
    flows_service.publish_flow(seed, actor=_actor(designer, {"designer", "admin"}), key="uxa_pd", now=now)
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=_actor(rep, {"sales"}), now=now,
                                key="uxa_pd")
    seed.commit()

    page.set_viewport_size(PHONE)
    sign_in(page, base_url, keeper.username)
    page.goto(f"{base_url}/orders/{order.id}")
    todo = page.locator("form.flow-task")
    expect(todo).to_contain_text("UXA 下生产单")
    expect(todo).not_to_contain_text("planned_delivery")
    field = todo.get_by_label("计划交期")
    expect(field).to_have_attribute("type", "date")
    expect(field).to_have_value("2027-01-10")
    field.fill("2027-01-20")
    todo.get_by_role("button", name="完成").click()
    expect(page.locator(".flow-status")).to_contain_text("已完成")
    seed.expire_all()
    assert seed.get(Order, order.id).planned_delivery == date(2027, 1, 20)


def test_uxaudit_customer_list_and_page_fit_a_phone(page: Page, base_url, seed):
    """The customer list was a six-column table 200 px wider than a 390 px phone (the page scrolled
    sideways); on a phone each customer is now a block of labelled lines, as the order list is."""
    rep = make_user(seed, username="uxa.rep2", roles=["sales"], locale="zh_CN")
    customer = make_customer(seed, name="UXA Hamburg Industrietechnik GmbH", owner_id=rep.id,
                             contact_name="Anna Schmidt", email="anna.schmidt@hamburg-industrietechnik.example")
    make_order(seed, owner=rep, customer=customer, number="UXA-CUST-1", planned_delivery=date(2027, 1, 10))
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, rep.username)
    page.goto(f"{base_url}/customers?q=UXA+Hamburg")
    row = page.locator("#customers-table tbody tr").filter(has_text="UXA Hamburg")
    expect(page.locator("#customers-table thead")).to_be_hidden()
    contact = row.locator("td").filter(has_text="Anna Schmidt")
    assert contact.evaluate("td => getComputedStyle(td, '::before').content") == '"联系人: "'
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    row.get_by_role("link", name="UXA Hamburg Industrietechnik GmbH").click()
    expect(page.get_by_role("link", name="UXA-CUST-1")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_uxaudit_form_designer_half_width_field_fits_a_phone(page: Page, base_url, seed):
    """A field set to two or three per row kept its name, type and Duplicate / Delete buttons on
    one line inside half a phone: the English page grew 47 px wider than the screen."""
    designer = make_user(seed, username="uxa.formdesigner", roles=["designer"], locale="en")
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, designer.username)
    page.goto(f"{base_url}/designer/forms")
    for _ in range(2):  # two side by side: the right one spilled past the screen's edge
        page.locator("#forms-palette li[data-type='single_select']").dblclick()
        card = page.locator("#forms-canvas > li.selected")
        expect(card).to_be_visible()
        page.get_by_label("Columns per row").select_option("2")
        expect(card).to_have_class("w2 selected")
    expect(card.get_by_role("button", name="Duplicate")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_uxaudit_rule_scope_names_the_form_by_its_title(page: Page, base_url, seed):
    """The rule designer's scope listed the order form by its key (`order`) on a zh-CN page: forms
    keep their name in `title`, flows in `name`, and only `name` was read."""
    from backend.forms import service as forms_service

    admin = make_user(seed, username="uxa.ruleadmin", roles=["admin", "designer"], locale="zh_CN")
    actor = _actor(admin, {"admin", "designer"})
    now = datetime.now(UTC)
    forms_service.save_draft(seed, actor=actor, key="uxa_form", now=now, definition={
        "key": "uxa_form", "title": {"zh-CN": "UXA 销售订单", "en": "UXA sales order"},
        "fields": [{"key": "product", "type": "text", "label": {"zh-CN": "产品", "en": "Product"}}]})
    forms_service.publish_form(seed, actor=actor, key="uxa_form", now=now)
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/designer/rules/new")
    expect(page.locator("#rd-scope").get_by_label("UXA 销售订单 (uxa_form)")).to_be_visible()


def test_uxaudit_portal_admin_says_what_happened_once(page: Page, base_url, seed):
    """Adding an external party said "X was added." twice: once from the page shell, once under the
    page's own heading (the connectors and logistics pages did the same)."""
    admin = make_user(seed, username="uxa.portaladmin", roles=["admin"], locale="zh_CN")
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/portal")
    page.get_by_label("名称", exact=True).first.fill("UXA 成都西部重工")
    page.get_by_role("button", name="添加外部单位").click()
    said = page.get_by_role("status").filter(has_text="已添加 UXA 成都西部重工。")
    expect(said.first).to_be_visible()
    expect(said).to_have_count(1)


def test_uxaudit_demo_order_names_its_supplier_field(page: Page, base_url, seed):
    """The demo's orders carry a supplier its order form did not define: the order page listed it
    as `supplier` among 产品, 数量 ... on a zh-CN page."""
    from sqlalchemy import delete

    from backend.demo_designs import DEMO_FORM
    from backend.forms import service as forms_service
    from backend.forms.models import FormDefinitionRow

    designer = make_user(seed, username="uxa.demoform", roles=["designer"])
    rep = make_user(seed, username="uxa.rep3", roles=["sales"], locale="zh_CN")
    seed.execute(delete(FormDefinitionRow))  # the shared live database: the demo's form is the one published
    now = datetime.now(UTC)
    forms_service.save_draft(seed, actor=_actor(designer, {"designer"}), key="order", now=now, definition=DEMO_FORM)
    forms_service.publish_form(seed, actor=_actor(designer, {"designer"}), key="order", now=now)
    order = make_order(seed, owner=rep, number="UXA-SUP-1", data={"product": "伺服电机", "supplier": "成都西部重工"})
    seed.commit()
    try:
        page.set_viewport_size(PHONE)
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}")
        details = page.locator("main")
        expect(details).to_contain_text("成都西部重工")
        expect(details).to_contain_text("供应商")
        expect(details).not_to_contain_text("supplier")
    finally:
        seed.execute(delete(FormDefinitionRow))
        seed.commit()


def test_uxaudit_portal_link_offers_the_outside_steps_and_says_what_is_missing(page: Page, base_url, seed):
    """Issuing a supplier's link for an order asked for a "flow step key" no page showed (the hint
    read `production`, a key of no shipped flow); left empty it answered "step  is not given to X"
    and kept nothing else. Now the box offers the published flows' outside steps by name, and an
    empty step is asked for in words, with the typed order number kept."""
    from backend.portal import service as portal

    admin_user = make_user(seed, username="uxa.portallinks", roles=["admin", "designer"], locale="zh_CN")
    admin = _actor(admin_user, {"admin", "designer"})
    now = datetime.now(UTC)
    party = portal.create_party(seed, actor=admin, values={"kind": "supplier", "name": "UXA 铸件厂"}, now=now)
    flow = {"key": "uxa_outside", "nodes": [
        {"type": "start", "key": "start"},
        {"type": "task", "key": "uxa_casting", "name": {"en": "UXA casting", "zh-CN": "UXA 铸造"},
         "assignees": [{"kind": "role", "role": "warehouse"}], "field_permissions": {"planned_delivery": "editable"},
         "external": {"kind": "supplier", "party_id": party.id, "done_field": "planned_delivery"}},
        {"type": "end", "key": "end"}],
        "edges": [{"key": "e1", "source": "start", "target": "uxa_casting"},
                  {"key": "e2", "source": "uxa_casting", "target": "end"}]}
    flows_service.save_draft(seed, actor=admin, key="uxa_outside", definition=flow, now=now)
    flows_service.publish_flow(seed, actor=admin, key="uxa_outside", now=now)
    order = make_order(seed, owner=admin_user, number="UXA-PORTAL-1")
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, admin_user.username)
    page.goto(f"{base_url}/admin/portal")
    links = page.locator("#portal-link-form")
    expect(page.locator("#portal-outside-steps option[value='uxa_casting']")).to_have_text("UXA 铸造")
    links.get_by_label("外部单位").select_option(label="UXA 铸件厂")
    links.get_by_label("订单号（留空：该单位的待办链接）").fill(order.number)
    links.get_by_role("button", name="生成链接").click()
    expect(page.get_by_role("alert").filter(has_text="请选择该外部单位处理的流程节点")).to_be_visible()
    expect(page.locator("#portal-link-form [name=order_number]")).to_have_value("UXA-PORTAL-1")


# the main pages of each kind of user, at phone width in Chinese: none scrolls sideways, none shows
# a raw message key (order.stage.x, flow.xxx_yyy) where words belong
GUARDED_PAGES = ["/orders", "/orders/new", "/inbox", "/customers", "/customers/new", "/dashboard",
                 "/dashboard/process-map", "/dashboards", "/notifications", "/notifications/preferences",
                 "/designer", "/designer/forms", "/designer/flows", "/designer/rules", "/designer/rules/new",
                 "/designer/reports", "/admin/users", "/admin/departments", "/admin/calendar", "/admin/imports",
                 "/admin/connectors", "/admin/logistics", "/admin/portal", "/admin/channels", "/admin/api-keys",
                 # walked by the second audit (test_uxaudit2.py)
                 "/admin/connectors/new", "/admin/connector-templates", "/admin/inbound", "/admin/users/new",
                 "/admin/audit", "/admin/outbox", "/admin/foresight", "/designer/reports/new", "/designer/whatif"]
RAW_KEY = (r"\b(?:order|orders|flow|flows|rule|rules|inbox|form|forms|portal|auth|validation|field|customer"
           r"|report|reports|connector|import|stage|status)\.[a-z_]+(?:\.[a-z_]+)*\b")


def _known_codes() -> set[str]:
    """Every message code the app may show raw by mistake: the error codes and their statuses."""
    from backend import i18n
    from backend.errors import STATUS_BY_CODE

    return set(i18n.error_messages()) | set(STATUS_BY_CODE)


def test_uxaudit_main_pages_fit_a_phone_in_chinese_without_raw_keys(page: Page, base_url, seed):
    admin = make_user(seed, username="uxa.guard", roles=["admin", "designer", "sales"], locale="zh_CN")
    make_order(seed, owner=admin, number="UXA-GUARD-1", customer=make_customer(seed, name="UXA 守卫客户"))
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, admin.username)
    problems = []
    for path in GUARDED_PAGES:
        response = page.goto(f"{base_url}{path}")
        page.wait_for_load_state("networkidle")
        if response is None or response.status != 200:
            problems.append(f"{path}: HTTP {response.status if response else '-'}")
            continue
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > PHONE["width"]:
            problems.append(f"{path}: {wide} px wide")
        if page.locator("html").get_attribute("lang") != "zh-CN":
            problems.append(f"{path}: not in Chinese")
        found = page.evaluate("re => document.body.innerText.match(new RegExp(re, 'g')) || []", RAW_KEY)
        # only the app's own codes: other tests' usernames (form.designer) and file names
        # (orders.csv) in the shared browser database have the same shape
        keys = sorted({k for k in found if k in _known_codes()})[:3]
        if keys:
            problems.append(f"{path}: raw keys {keys}")
    assert not problems, problems


def test_uxaudit_report_designer_field_buttons_speak_chinese(page: Page, base_url, seed):
    """Beside each field the report designer offered the letters D, M and F on a zh-CN page."""
    designer = make_user(seed, username="uxa.reports", roles=["designer"], locale="zh_CN")
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, designer.username)
    page.goto(f"{base_url}/designer/reports/new")
    buttons = page.locator("#rp-field-list li").first.locator(".rp-field-buttons button")
    expect(buttons).to_have_text(["维度", "指标", "筛选"])
    buttons.nth(0).click()
    expect(page.locator("#rp-dimensions li")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_uxaudit_phone_menu_and_bulk_ticks_are_finger_sized(page: Page, base_url, seed):
    """On a phone the menu button (☰) of every page was 20 px wide and the boxes that pick orders
    for a bulk action 13 px: now 44 px and 24 px, and the menu still opens with a tap."""
    rep = make_user(seed, username="uxa.thumb", roles=["sales"], locale="zh_CN")
    make_order(seed, owner=rep, number="UXA-THUMB-1", customer=make_customer(seed, name="UXA 拇指客户"))
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, rep.username)
    page.goto(f"{base_url}/orders?q=UXA-THUMB-1")
    burger = page.locator(".nav-burger").bounding_box()
    assert burger["width"] >= 44 and burger["height"] >= 44, burger
    tick = page.get_by_role("checkbox", name="选择此订单").first.bounding_box()
    assert tick["width"] >= 24 and tick["height"] >= 24, tick
    page.locator(".nav-burger").click()
    expect(page.get_by_role("navigation", name="主导航").get_by_role("link", name="客户")).to_be_visible()


def test_uxaudit_audit_log_names_fields_and_shows_times_in_the_installation_zone(page: Page, base_url, seed):
    """The audit log listed a portal link's change as `party_id`, `expires_at` with the raw UTC text
    2026-12-21T18:11:50.860905+00:00, and a dashboard as `dashboard`; every other time on the page
    is in the installation's zone (Asia/Shanghai)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from backend.portal import service as portal

    admin_user = make_user(seed, username="uxa.auditor", roles=["admin"], locale="zh_CN")
    party = portal.create_party(seed, actor=_actor(admin_user, {"admin"}), values={"kind": "carrier",
                                                                                    "name": "UXA 顺丰"},
                                now=datetime.now(UTC))
    seed.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, admin_user.username)
    page.goto(f"{base_url}/admin/portal")
    page.locator("#portal-link-form").get_by_label("外部单位").select_option(str(party.id))
    page.get_by_role("button", name="生成链接").click()
    expect(page.locator("#portal-links")).to_contain_text("UXA 顺丰")
    page.goto(f"{base_url}/admin/audit")
    event = page.locator("main li, main tr, main .audit-event").filter(has_text="到期时间").first
    expect(event).to_be_visible()
    text = event.inner_text()
    assert "+00:00" not in text and "expires_at" not in text, text
    expires = (datetime.now(UTC) + timedelta(days=14)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{expires.year}/{expires.month}/{expires.day}" in text, text
    expect(page.locator("main")).not_to_contain_text("party_id")


def test_uxaudit_a_refused_todo_on_the_order_page_says_why_on_the_flow_page(page: Page, base_url, seed):
    """When a to-do was closed elsewhere while its form stood open, completing it from the order's
    flow led to a dead end: an error page with only a link home. Now the order's flow page comes
    back with the reason on top (and, for a to-do still open, what was typed)."""
    keeper = make_user(seed, username="uxa.keeper2", roles=["warehouse"], locale="zh_CN")
    rep = make_user(seed, username="uxa.rep4", roles=["sales"], locale="zh_CN")
    designer = make_user(seed, username="uxa.designer2", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number="UXA-STALE-1", planned_delivery=date(2027, 1, 10))
    definition = _planned_delivery_flow("uxa_stale")
    definition["nodes"][1]["assignees"] = [{"kind": "users", "user_ids": [keeper.id]}]
    definition["nodes"][1]["required_fields"] = []
    now = datetime.now(UTC)
    flows_service.save_draft(seed, actor=_actor(designer, {"designer", "admin"}), key="uxa_stale",
                             definition=definition, now=now)
    flows_service.publish_flow(seed, actor=_actor(designer, {"designer", "admin"}), key="uxa_stale", now=now)
    instance = service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=_actor(rep, {"sales"}),
                                           now=now, key="uxa_stale")
    seed.commit()
    page.route_web_socket("**/ws/**", lambda ws: None)  # the page stays as it was: no live refresh
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, keeper.username)
    page.goto(f"{base_url}/orders/{order.id}/flow")
    todo = page.locator("form.flow-task")
    expect(todo).to_contain_text("UXA 下生产单")
    # meanwhile the to-do is done elsewhere (another tab, the inbox)
    from backend.flows.schemas import TaskAction

    task = next(t for t in service_instance.instance_read(seed, instance).tasks if t.status == "pending")
    service_instance.act_on_task(seed, actor=_actor(keeper, {"warehouse"}), instance_id=instance.id,
                                 task_id=task.id, body=TaskAction(action="complete"), now=now)
    seed.commit()
    todo.get_by_label("评论").fill("已安排生产")
    todo.get_by_role("button", name="完成").click()
    expect(page.locator("#orders-flow-error")).to_contain_text("此待办已关闭（已完成）")
    expect(page.get_by_role("link", name="← 订单 UXA-STALE-1")).to_be_visible()
