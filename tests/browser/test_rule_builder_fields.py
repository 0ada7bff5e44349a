"""The rule builder beyond "field vs constant" (issue 17), by clicking only: "planned delivery is
before expected completion" (a field on the right), "production done more than 3 days ago" (a
relative date on a designed date field), and, in Chinese, "stage is one of 审批, 生产" ticked in a
list of the order stages by name; the dry run shows exactly the orders that should match.

Rule keys are `bld_*` (keys are lower case), names and order numbers `BLD-*`. Only orders of this test carry the designed keys `bld_*`, so the shared live database's other
orders cannot match these conditions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.forms.models import FormDefinitionRow
from backend.rules.models import RuleDefinitionRow
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user

FORM = {"key": "bld_form", "name": {"en": "BLD order", "zh-CN": "BLD 订单"}, "fields": [
    # the same Chinese label as the order's own 计划交期: the builder must tell them apart
    {"key": "bld_planned", "type": "date", "label": {"en": "BLD planned delivery", "zh-CN": "计划交期"}},
    {"key": "bld_expected", "type": "date", "label": {"en": "BLD expected completion", "zh-CN": "BLD预计完成"}},
    {"key": "bld_done", "type": "date", "label": {"en": "BLD production done on", "zh-CN": "BLD生产完成日期"}},
]}


def _seed(seed, now):
    if seed.exec(select(FormDefinitionRow).where(FormDefinitionRow.key == "bld_form")).first() is None:
        seed.add(FormDefinitionRow(key="bld_form", version=1, status="published", definition=FORM,
                                   created_at=now, updated_at=now, published_at=now))
    make_user(seed, username="bld.admin", roles=["admin", "designer"], locale="en")
    make_user(seed, username="bld.admin.zh", roles=["admin", "designer"], locale="zh_CN")
    rep = make_user(seed, username="bld.rep", roles=["sales"], locale="en")
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    day = lambda k: (today + timedelta(days=k)).isoformat()  # noqa: E731
    orders = {
        "BLD-LATE": dict(stage="production", planned_delivery=today + timedelta(days=2), data={"bld_expected": day(5)}),
        "BLD-ONTIME": dict(stage="production", planned_delivery=today + timedelta(days=9), data={"bld_expected": day(5)}),
        "BLD-DONE5": dict(stage="production", data={"bld_done": day(-5)}),
        "BLD-DONE1": dict(stage="approval", data={"bld_done": day(-1)}),
        "BLD-SHIP": dict(stage="shipping", data={"bld_done": day(-6)}),
    }
    for number, values in orders.items():
        make_order(seed, owner=rep, number=number, at=now - timedelta(days=1), **values)
    seed.commit()


def _new_rule(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill(key)
    page.get_by_label("Name (English)").fill("BLD-" + key)
    page.get_by_role("button", name="Add condition").click()


def _dry_run(page: Page, button: str = "Dry run"):
    page.get_by_role("button", name=button).click()
    dry = page.locator("#rd-dry table")
    expect(dry).to_be_visible(timeout=15_000)
    return dry


def test_field_against_field_relative_dates_and_stage_boxes(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    _seed(seed, now)
    sign_in(page, base_url, "bld.admin")

    # 1. planned delivery (the order's) is before BLD expected completion (another field, picked)
    _new_rule(page, base_url, "bld_late")
    row = page.get_by_role("group", name="Condition")
    row.get_by_label("Field", exact=True).select_option(label="Planned delivery")
    row.get_by_label("Operator", exact=True).select_option(label="before")
    row.get_by_label("Compare with").select_option(label="another field")
    other = row.get_by_label("Other field")
    # only date fields are offered on the right
    expect(other.locator("option", has_text="Amount")).to_have_count(0)
    other.select_option(label="BLD expected completion")
    expect(page.locator("#rd-summary")).to_have_text("Planned delivery before BLD expected completion")
    assert page.evaluate("window.gendanRuleDesigner.toLogic()") == {
        "and": [{"<": [{"var": "planned_delivery"}, {"var": "data.bld_expected"}]}]}
    dry = _dry_run(page)
    expect(dry).to_contain_text("BLD-LATE")
    expect(dry).not_to_contain_text("BLD-ONTIME")
    expect(page.locator("#rd-dry [role=status]")).to_have_text("1 order(s) match now.")

    # 2. BLD production done more than 3 days ago
    _new_rule(page, base_url, "bld_done")
    row = page.get_by_role("group", name="Condition")
    row.get_by_label("Field", exact=True).select_option(label="BLD production done on")
    row.get_by_label("Operator", exact=True).select_option(label="more than … ago")
    row.get_by_label("How many").fill("3")
    expect(row.get_by_label("Unit")).to_have_text("daysworking days")
    expect(page.locator("#rd-summary")).to_have_text("BLD production done on more than 3 days ago")
    assert page.evaluate("window.gendanRuleDesigner.toLogic()") == {
        "and": [{"<": [{"var": "data.bld_done"}, {"today": [-3, "days"]}]}]}
    dry = _dry_run(page)
    expect(dry).to_contain_text("BLD-DONE5")
    expect(dry).to_contain_text("BLD-SHIP")
    expect(dry).not_to_contain_text("BLD-DONE1")
    # the builder reads its own JSON back: the relative date survives a round trip through the JSON tab
    page.get_by_role("tab", name="JSON-logic").click()
    page.get_by_role("tab", name="Visual builder").click()
    expect(page.get_by_role("group", name="Condition").get_by_label("How many")).to_have_value("3")

    # 3. in Chinese: stage is one of 审批, 生产 (ticked by name), and BLD production done is filled in
    page.context.clear_cookies()
    sign_in(page, base_url, "bld.admin.zh")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("规则标识").fill("bld_stages")
    page.get_by_role("button", name="添加条件", exact=True).click()
    field = page.get_by_label("字段", exact=True).nth(0)
    labels = field.locator("option").all_inner_texts()
    assert labels.count("计划交期（订单）") == 1 and labels.count("计划交期（表单字段 bld_planned）") == 1
    assert "计划交期" not in labels  # never two identical entries
    assert "经理审批 (manager_approval)" not in " ".join(labels)
    field.select_option(label="阶段")
    page.get_by_label("运算符", exact=True).nth(0).select_option(label="属于")
    stages = page.get_by_role("group", name="取值")
    expect(stages.get_by_role("checkbox")).to_have_count(11)  # the order stages by name, no flow steps
    stages.get_by_label("审批", exact=True).check()
    stages.get_by_label("生产", exact=True).check()
    page.get_by_role("button", name="添加条件", exact=True).click()
    page.get_by_label("字段", exact=True).nth(1).select_option(label="BLD生产完成日期")
    page.get_by_label("运算符", exact=True).nth(1).select_option(label="已填写")
    expect(page.locator("#rd-summary")).to_have_text("阶段 是 审批、生产 之一，并且 BLD生产完成日期 已填写")
    assert page.evaluate("window.gendanRuleDesigner.toLogic()") == {"and": [
        {"in": [{"var": "stage"}, ["approval", "production"]]}, {"!!": [{"var": "data.bld_done"}]}]}
    dry = _dry_run(page, "试运行")
    expect(dry).to_contain_text("BLD-DONE5")
    expect(dry).to_contain_text("BLD-DONE1")
    expect(dry).not_to_contain_text("BLD-SHIP")

    # saved as built
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#rd-status")).to_have_text("草稿已保存。")
    with live_engine.connect() as conn:
        stored = conn.execute(select(RuleDefinitionRow.definition).where(RuleDefinitionRow.key == "bld_stages")).scalar_one()
    assert stored["condition"]["and"][0] == {"in": [{"var": "stage"}, ["approval", "production"]]}
