"""A step given to *the order's own* supplier, in a browser (docs/portal.md, `party_field`):

- a manager, in Chinese, on a 390 px phone and on a desktop, gives the production step to "the
  company named in the order's field 供应商" in the flow designer's node panel and publishes;
- the due-links job hands each order's link to that order's supplier; the supplier opens it on a
  390 px phone, sets production progress to 100% and the order's flow moves on to shipping, while
  the other supplier's link never shows this order.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.forms import service as forms_service
from backend.orders.models import Order
from backend.portal import service as portal
from backend.portal import tasks as portal_tasks
from backend.portal.models import PortalLink
from tests.browser.conftest import sign_in, wait_until
from tests.browser.test_flow_designer import FlowDesignerPage
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
EXTRA_FIELDS = [
    {"key": "supplier", "type": "text", "label": {"en": "Supplier", "zh-CN": "供应商"}},
    {"key": "production_progress", "type": "percent", "label": {"en": "Production progress", "zh-CN": "生产进度"},
     "min": 0, "max": 100},
    {"key": "pfb_margin", "type": "text", "label": {"en": "PFB margin", "zh-CN": "PFB 利润"}}]
SECRET = "PFB-HIDDEN-MARGIN"


@pytest.fixture
def order_form(seed):
    """Put the published order form back as it was afterwards: the live database is shared, and a
    flow another browser test publishes is checked against the published form's fields."""
    from backend.forms.models import FormDefinitionRow

    rows = select(FormDefinitionRow).where(FormDefinitionRow.key == "order")
    before = {row.id: row.status for row in seed.exec(rows).scalars()}
    yield
    seed.rollback()
    for row in seed.exec(rows).scalars():
        if row.id not in before:
            seed.delete(row)
        elif row.status != before[row.id]:
            row.status = before[row.id]
    seed.commit()


def publish_order_form(seed, actor, now) -> None:
    """The published order form plus the fields these tests use (added, never removed: the live
    database is shared with the other browser tests)."""
    row = forms_service._published_row(seed, "order")
    fields = [] if row is None else list(row.definition.get("fields", []))
    have = {f.get("key") for f in fields}
    fields += [f for f in EXTRA_FIELDS if f["key"] not in have]
    forms_service.save_draft(seed, actor=actor, key="order", definition={"key": "order", "fields": fields}, now=now)
    forms_service.publish_form(seed, actor=actor, key="order", now=now)


def _flow(key: str, external: dict | None) -> dict:
    production = {"type": "task", "key": "production", "name": {"en": "Production", "zh-CN": "生产"},
                  "stage": "production", "assignees": [{"kind": "role", "role": "warehouse"}], "x": 120, "y": 200,
                  "field_permissions": {"data.production_progress": "editable", "data.pfb_margin": "hidden"}}
    if external is not None:
        production["external"] = external
    return {"key": key, "nodes": [
        {"type": "start", "key": "start", "stage": "draft", "x": 120, "y": 60},
        production,
        {"type": "task", "key": "shipping", "stage": "shipping", "assignees": [{"kind": "role", "role": "warehouse"}],
         "x": 120, "y": 340},
        {"type": "end", "key": "end", "stage": "completed", "x": 120, "y": 460}],
        "edges": [{"key": "e1", "source": "start", "target": "production"},
                  {"key": "e2", "source": "production", "target": "shipping"},
                  {"key": "e3", "source": "shipping", "target": "end"}]}


class ZhFlowDesigner(FlowDesignerPage):
    """The designer's page object, its canvas and panel named in Chinese."""

    @property
    def canvas(self):
        return self.page.get_by_role("application", name="流程画布")

    @property
    def props(self):
        return self.page.get_by_role("complementary", name="属性")


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1440, "height": 1000}],
                         ids=["phone", "desktop"])
def test_pfb_a_manager_gives_production_to_the_orders_supplier(page: Page, base_url, seed, viewport, order_form):
    now = datetime.now(UTC)
    key = f"pfb_design_{viewport['width']}"
    user = make_user(seed, username=f"pfb.manager{viewport['width']}", roles=["designer", "admin"], locale="zh_CN")
    actor = load_actor(seed, user.id)
    publish_order_form(seed, actor, now)
    portal.create_party(seed, actor=actor, values={"kind": "supplier", "name": f"PFB 固定厂 {viewport['width']}"},
                        now=now)
    flows_service.save_draft(seed, actor=actor, key=key, definition=_flow(key, None), now=now)
    seed.commit()

    sign_in(page, base_url, user.username)
    page.set_viewport_size(viewport)
    page.goto(f"{base_url}/designer/flows/{key}")
    designer = ZhFlowDesigner(page, base_url)
    expect(designer.canvas).to_be_visible()
    page.wait_for_function("() => window.gendanFlowDesigner.lf.getGraphData().nodes.length === 4")
    designer.canvas.scroll_into_view_if_needed()
    designer.select_node("production")
    panel = designer.props
    panel.get_by_label("交给外部单位", exact=True).select_option(label="供应商")
    company = panel.get_by_label("哪家单位", exact=True)
    expect(company.locator("option", has_text="订单字段中填写的单位…")).to_have_count(1)
    field = panel.get_by_label("指定单位的订单字段", exact=True)
    expect(field).to_be_disabled()  # a fixed company is the first choice
    company.select_option(label="订单字段中填写的单位…")
    expect(field).to_be_enabled()
    field.select_option(label="供应商 (data.supplier)")
    panel.get_by_label("字段达到以下值时完成步骤", exact=True).fill("data.production_progress")
    panel.get_by_role("button", name="应用").click()
    if viewport["width"] < 800:
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
    toolbar = page.get_by_role("toolbar", name="画布工具")
    toolbar.get_by_role("button", name="保存草稿", exact=True).click()
    expect(page.locator("#fd-status")).to_contain_text("草稿已保存。")
    toolbar.get_by_role("button", name="发布", exact=True).click()
    expect(page.locator("#fd-status")).to_contain_text("已发布版本 1")

    seed.expire_all()
    published = flows_service.published_row(seed, key)
    node = next(n for n in published.definition["nodes"] if n["key"] == "production")
    assert node["external"]["party_field"] == "data.supplier" and node["external"]["party_id"] is None
    assert node["external"]["done_field"] == "data.production_progress"

    # opened again, the panel shows the choice as it was made
    page.reload()
    expect(designer.canvas).to_be_visible()
    page.wait_for_function("() => window.gendanFlowDesigner.lf.getGraphData().nodes.length === 4")
    designer.select_node("production")
    expect(panel.get_by_label("哪家单位", exact=True)).to_have_value("field")
    expect(panel.get_by_label("指定单位的订单字段", exact=True)).to_have_value("data.supplier")


def test_pfb_each_supplier_gets_its_own_orders_link_and_finishes_from_a_phone(browser: Browser, base_url, seed,
                                                                             live_engine, order_form):
    now = datetime.now(UTC)
    admin_user = make_user(seed, username="pfb.admin", roles=["admin", "designer"], locale="zh_CN")
    admin = load_actor(seed, admin_user.id)
    owner = make_user(seed, username="pfb.owner", roles=["sales"], locale="zh_CN")
    publish_order_form(seed, admin, now)
    mill = portal.create_party(seed, actor=admin, values={"kind": "supplier", "name": "PFB 苏州精工",
                                                          "locale": "zh_CN"}, now=now)
    forge = portal.create_party(seed, actor=admin, values={"kind": "supplier", "name": "PFB 宁波华力",
                                                           "locale": "zh_CN"}, now=now)
    external = {"kind": "supplier", "party_field": "data.supplier", "done_field": "data.production_progress",
                "done_at": 100}
    flows_service.save_draft(seed, actor=admin, key="pfb_flow", definition=_flow("pfb_flow", external), now=now)
    flows_service.publish_flow(seed, actor=admin, key="pfb_flow", now=now)
    orders = {}
    for number, supplier in (("PFB-1", " PFB 苏州精工 "), ("PFB-2", "PFB 宁波华力")):
        order = make_order(seed, owner=owner, customer=make_customer(seed), number=number,
                           data={"supplier": supplier, "production_progress": 30, "pfb_margin": SECRET})
        service_instance.start_flow(seed, order=order, actor=admin, now=now, key="pfb_flow")
        orders[number] = order
    seed.commit()

    assert portal_tasks.issue_due_links(live_engine, datetime.now(UTC), base_url=base_url) >= 2
    seed.expire_all()
    links = {link.order_id: link for link in seed.exec(select(PortalLink).where(
        PortalLink.order_id.in_([o.id for o in orders.values()]))).scalars()}
    assert {(oid, link.party_id) for oid, link in links.items()} == {
        (orders["PFB-1"].id, mill.id), (orders["PFB-2"].id, forge.id)}
    mine, theirs = links[orders["PFB-1"].id], links[orders["PFB-2"].id]
    seed.commit()

    phone_ctx = browser.new_context(**PHONE)
    staff_ctx = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        phone = phone_ctx.new_page()
        phone.goto(f"{base_url}/p/{theirs.token}")  # the other supplier's link shows its own order only
        expect(phone.get_by_role("heading", name="PFB-2")).to_be_visible()
        assert "PFB-1" not in phone.content()

        phone.goto(f"{base_url}/p/{mine.token}")
        expect(phone.get_by_role("heading", name="PFB-1")).to_be_visible()
        expect(phone.locator("#portal-step-state")).to_have_text("等您处理")
        assert SECRET not in phone.content()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the portal scrolls sideways on a phone ({width}px)"
        progress = phone.get_by_label("生产进度")
        expect(progress).to_have_value("30")
        progress.fill("100")
        phone.get_by_role("button", name="保存", exact=True).tap()
        expect(phone.locator("#portal-saved")).to_be_visible(timeout=60_000)
        expect(phone.locator("#portal-step-state")).to_have_text("已办")

        def moved():
            seed.commit()  # a fresh snapshot (SQLite keeps an open read transaction's view) ...
            seed.expire_all()  # ... and fresh rows (the seed session keeps them across commits)
            row = seed.exec(select(Order).where(Order.id == orders["PFB-1"].id)).scalars().one()
            return row if row.stage == "shipping" else None

        row = wait_until(moved)
        assert row is not None, "the flow did not move on to shipping"
        assert row.data["production_progress"] == 100

        # the owner's order page names the supplier of this order in its "Outside parties" panel
        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "pfb.owner")
        staff.goto(f"{base_url}/orders/{orders['PFB-1'].id}")
        panel = staff.locator("#portal-panel")
        expect(panel).to_contain_text("PFB 苏州精工", timeout=30_000)
        assert "PFB 宁波华力" not in panel.inner_text()
        assert staff.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        phone_ctx.close()
        staff_ctx.close()
