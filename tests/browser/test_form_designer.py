"""The issue's browser scenario: design the order form by dragging, publish, then create an order
whose total computes live, see the Chinese error next to the missing date, and save."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from backend.forms.models import FormDefinitionRow
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user


def drag(page: Page, source, target) -> None:
    """Pointer drag in small steps, pausing over the target: SortableJS in pointer-fallback mode
    notices what is under the pointer on a 50 ms timer, as it does for a person's slower hand."""
    src = source.bounding_box()
    page.mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
    page.mouse.down()
    page.mouse.move(src["x"] + src["width"] / 2 + 10, src["y"] + src["height"] / 2 + 10, steps=5)
    dst = target.locator("> li").last.bounding_box()  # drop onto the lower half of the last card
    x, y = dst["x"] + dst["width"] / 2, dst["y"] + dst["height"] * 0.75
    page.mouse.move(x, y, steps=15)
    for dx in (3, 6, 9):
        page.wait_for_timeout(120)
        page.mouse.move(x + dx, y + 1, steps=2)
    page.wait_for_timeout(120)
    page.mouse.up()


@pytest.fixture
def clean_forms(seed):
    """The live database is shared by every browser test: leave no published order form behind
    (it would validate other tests' orders)."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def test_publish_shows_each_problem_on_its_field(page: Page, base_url, seed, clean_forms):
    make_user(seed, username="form.checker", roles=["designer"], locale="zh_CN")
    seed.commit()
    sign_in(page, base_url, "form.checker")
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.goto(f"{base_url}/designer/forms")
    canvas = page.locator("#forms-canvas")
    drag(page, page.locator('#forms-palette li[data-type="single_select"]'), canvas)
    drag(page, page.locator('#forms-palette li[data-type="text"]'), canvas)
    expect(canvas.locator("li[data-index]")).to_have_count(2)
    canvas.locator("li[data-index]").first.click()
    options = page.locator("#forms-properties").get_by_label("选项（每行一个：值|中文|English|颜色）")
    options.fill("")
    options.press("Tab")
    canvas.locator("li[data-index]").nth(1).click()
    page.locator("#forms-properties").get_by_label("标识").fill("single_select_1")  # duplicate key
    page.locator("#forms-properties").get_by_label("标识").press("Tab")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("#forms-message")).to_have_text("请修正表单上标出的问题。")
    expect(canvas.locator("li[data-index]").first.get_by_role("alert")).to_have_text("选择字段至少需要一个选项。")
    expect(canvas.locator("li[data-index]").nth(1).get_by_role("alert")).to_have_text("标识“single_select_1”重复。")
    # undo the key change: the duplicate is gone from the draft
    page.get_by_role("button", name="撤销").click()
    expect(canvas.locator("li[data-index]").nth(1)).to_contain_text("text_1")
    # a line-items table's columns are edited in place
    drag(page, page.locator('#forms-palette li[data-type="line_items"]'), canvas)
    expect(canvas.locator("li[data-index]")).to_have_count(3)
    columns = page.locator("#forms-properties .fd-column")
    expect(columns).to_have_count(4)
    page.get_by_role("button", name="添加列").click()
    expect(columns).to_have_count(5)
    page.get_by_role("button", name="撤销").click()
    expect(columns).to_have_count(4)


def test_design_publish_and_fill_the_order_form(page: Page, base_url, seed, clean_forms):
    make_user(seed, username="form.designer", roles=["designer", "sales"], locale="zh_CN")
    customer = make_customer(seed, name="华东机械")
    seed.commit()
    sign_in(page, base_url, "form.designer")

    # design: a required "Planned delivery date" and a line-items table with totals
    page.set_viewport_size({"width": 1400, "height": 1400})  # palette and canvas both in view
    page.goto(f"{base_url}/designer/forms")
    canvas = page.locator("#forms-canvas")
    drag(page, page.locator('#forms-palette li[data-type="date"]'), canvas)
    expect(canvas.locator("li[data-index]")).to_have_count(1)
    props = page.locator("#forms-properties")
    props.get_by_label("标识").fill("planned_delivery")
    props.get_by_label("标识").press("Tab")
    props.get_by_label("名称（中文）").fill("计划交期")
    props.get_by_label("名称（中文）").press("Tab")
    props.get_by_label("名称（英文）").fill("Planned delivery date")
    props.get_by_label("名称（英文）").press("Tab")
    props.get_by_label("必填", exact=True).check()
    expect(canvas.locator("li[data-index]").first).to_contain_text("计划交期 *")
    drag(page, page.locator('#forms-palette li[data-type="line_items"]'), canvas)
    expect(canvas.locator("li[data-index]")).to_have_count(2)
    expect(canvas.locator("li[data-index]").nth(1)).to_contain_text("明细")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("#forms-message")).to_have_text("已发布第 1 版。")
    # the live previews (desktop and phone) are framed pages of this server: they show the field
    for frame in ("#forms-preview-desktop", "#forms-preview-phone"):
        expect(page.frame_locator(frame).get_by_text("计划交期").first).to_be_visible(timeout=20_000)

    # use: the published form on "New order"
    page.goto(f"{base_url}/orders/new")
    page.get_by_label("客户").select_option(str(customer.id))
    page.get_by_role("textbox", name="产品 1").fill("螺栓")
    page.get_by_role("spinbutton", name="数量 1").fill("3")
    page.get_by_role("spinbutton", name="单价 1").fill("19.99")
    total = page.locator("fieldset.line-items tfoot output")
    expect(total).to_have_text(re.compile(r"59\.97"))  # computed by the server as the user types
    page.get_by_role("button", name="添加行").click()
    page.get_by_role("spinbutton", name="数量 2").fill("2")
    page.get_by_role("spinbutton", name="单价 2").fill("0.5")
    expect(total).to_have_text(re.compile(r"60\.97"))

    # submit without the date: the Chinese error next to the date field, nothing saved
    page.get_by_role("button", name="保存订单").click()
    date_field = page.locator('[data-field="planned_delivery"]')
    expect(date_field.get_by_role("alert")).to_have_text("此字段为必填项。")
    expect(page.get_by_role("spinbutton", name="单价 2")).to_have_value("0.5")

    # then it saves
    page.get_by_label("计划交期").fill("2026-12-24")
    page.get_by_role("button", name="保存订单").click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    expect(page.locator("#orders-form-fields")).to_contain_text("计划交期")
    expect(page.get_by_text("表单第 1 版")).to_be_visible()


def test_visibility_and_required_follow_what_the_user_ticks(page: Page, base_url, seed, clean_forms):
    from datetime import UTC, datetime

    from backend.auth.service import load_actor
    from backend.forms import service as forms_service

    user = make_user(seed, username="form.visible", roles=["designer", "sales"], locale="en")
    make_customer(seed, name="Visible Co")
    seed.commit()
    now = datetime(2026, 11, 26, tzinfo=UTC)
    actor = load_actor(seed, user.id)
    forms_service.save_draft(seed, actor=actor, key="order", now=now, definition={"key": "order", "fields": [
        {"key": "needs_shipping", "type": "checkbox", "label": {"en": "Needs shipping", "zh-CN": "需要发货"}},
        {"key": "address", "type": "text", "required": True, "visible_if": {"var": "needs_shipping"},
         "label": {"en": "Address", "zh-CN": "地址"}},
        {"key": "amount_due", "type": "money", "label": {"en": "Amount due", "zh-CN": "应收"}},
        {"key": "note", "type": "text", "required_if": {">": [{"var": "amount_due"}, 1000]},
         "label": {"en": "Approval note", "zh-CN": "审批说明"}},
    ]})
    forms_service.publish_form(seed, actor=actor, key="order", now=now)
    sign_in(page, base_url, "form.visible")
    page.goto(f"{base_url}/orders/new")
    address = page.get_by_label("Address")
    expect(address).to_be_hidden()
    page.get_by_label("Needs shipping").check()
    expect(address).to_be_visible()
    required_mark = page.locator('[data-field="note"] .req-mark')
    expect(required_mark).to_be_hidden()
    page.get_by_label("Amount due").fill("5000")
    expect(required_mark).to_be_visible()
    page.get_by_label("Needs shipping").uncheck()
    expect(address).to_be_hidden()


def test_properties_panel_asks_to_select_a_field(page: Page, base_url, seed, clean_forms):
    make_user(seed, username="form.props", roles=["designer"], locale="zh_CN")
    seed.commit()
    sign_in(page, base_url, "form.props")
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.goto(f"{base_url}/designer/forms")
    canvas = page.locator("#forms-canvas")
    expect(canvas).to_contain_text("将字段类型拖到这里")  # the empty canvas asks for a drop
    # the properties panel asks for a selection, not for a drop (it is no drop target)
    expect(page.locator("#forms-properties")).to_have_text("选择一个字段以编辑其属性。")
    drag(page, page.locator('#forms-palette li[data-type="text"]'), canvas)
    expect(page.locator("#forms-properties").get_by_label("标识", exact=True)).to_be_visible()
