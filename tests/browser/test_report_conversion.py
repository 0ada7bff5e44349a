"""A designer builds a conversion funnel by dragging: order events by stage entered, drags the order's
customer onto Measures and picks "Distinct count", shows it as a funnel and turns on the conversion;
the steps read in the flow's order (draft → approval → production, not by count) with each share of
the stage before, as chart labels and in words; saved and reopened on a 390 px phone, the options
are still set. Then a to-dos report shows a to-do without an order, and its list says so. zh-CN too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from backend.inbox.models import InboxItem
from tests.browser.conftest import sign_in
from tests.browser.test_report_designer import WAIT, drag_to
from tests.factories.order_events import travel
from tests.factories.orders import make_customer
from tests.factories.people import make_user

JUNE = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)


def _seed(seed, tag: str):
    designer = make_user(seed, username=f"reportui.designer.{tag}", roles=["designer", "admin"], locale="en",
                         display_name=f"RUI Designer {tag}")
    customers = [make_customer(seed) for _ in range(3)]
    paths = [(0, [("draft", 0), ("approval", 1), ("production", 2)]),
             (0, [("draft", 0), ("approval", 1), ("production", 2)]),
             (1, [("draft", 0), ("production", 3)]),  # skips approval
             (2, [("draft", 0)])]
    for i, (c, path) in enumerate(paths):
        travel(seed, owner=designer, customer=customers[c], created=JUNE, number=f"RUI{tag}-{i}", stages_hours=path)
    seed.commit()
    return designer


def _steps(page: Page):
    return page.get_by_role("list", name="Conversion from stage to stage").locator("li")


COUNTS = {"draft": 3, "approval": 1, "production": 2}  # distinct customers who entered each stage
NAMES = {"draft": "Draft", "approval": "Approval", "production": "Production"}


def _flow_order(seed) -> list[str]:
    """The three stages in the order the published flows draw them: other tests publish flows too,
    and the merged drawing decides (draft -> approval -> production when no flow says otherwise)."""
    from backend.insight.process_map import drawn_flow

    order = drawn_flow(seed)[0].order
    return sorted(COUNTS, key=lambda s: order.index(s) if s in order else len(order))


def _check_funnel(page: Page, order: list[str]) -> None:
    expect(page.locator("#rp-preview")).to_have_attribute("aria-busy", "false", timeout=WAIT)
    steps = _steps(page)
    expect(steps).to_have_count(3, timeout=WAIT)
    # in the flow's order, not by count; each step but the first with its share of the step before
    texts, labels = [], []
    for i, stage in enumerate(order):
        n = COUNTS[stage]
        share = None if i == 0 else round(100 * n / COUNTS[order[i - 1]])
        texts.append(f"{NAMES[stage]}{n}" + ("" if share is None else f"{share}% of the stage before"))
        labels.append(f"{NAMES[stage]} {n} {{b}}: {{c}}" + ("" if share is None else f" ({share}%)"))
    for i, text in enumerate(texts):
        expect(steps.nth(i)).to_have_text(text)
    expect(steps.nth(2).locator(".db-step-share")).to_be_visible()
    drawn = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('rp-chart')).getOption()
        .series[0].data.map((d) => d.name + ' ' + d.value + ' ' + d.label.formatter)""")
    assert drawn == labels
    table = page.locator("#rp-table table")
    expect(table.locator("thead th")).to_have_text(["Stage to", "Distinct count · Order: Customer"])
    expect(table.locator("tbody tr").nth(order.index("approval")).locator("td")).to_have_text(["Approval", "1"])


def test_designer_builds_a_conversion_funnel_of_distinct_customers(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    _seed(seed, tag)
    order = _flow_order(seed)
    sign_in(page, base_url, f"reportui.designer.{tag}")
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(f"{base_url}/designer/reports/new")
    page.get_by_label("Data set").select_option("order_events")
    fields = page.locator("#rp-field-list")
    drag_to(page, fields.locator('li[data-field="stage_to"]'), page.locator("#rp-dimensions"))
    expect(page.locator("#rp-dimensions li")).to_have_count(1, timeout=WAIT)
    # the order's customer onto Measures: a number, so a sum first; the designer picks the distinct count
    drag_to(page, fields.locator('li[data-field="order.customer_id"]'), page.locator("#rp-measures"))
    measures = page.locator("#rp-measures li")
    expect(measures).to_have_count(2, timeout=WAIT)
    expect(measures.nth(1).get_by_label("Measure")).to_have_value("sum")
    measures.nth(1).get_by_label("Measure").select_option(label="Distinct count")
    measures.first.get_by_role("button", name="Remove").click()  # the count of events
    expect(measures).to_have_count(1)
    # the field just dragged still has working buttons
    fields.locator('li[data-field="stage_to"]').get_by_title("Add as filter").click()
    page.locator("#rp-filters li").first.get_by_label("Operator").select_option("set")
    fields.locator('li[data-field="order.number"]').get_by_title("Add as filter").click()
    condition = page.locator("#rp-filters li").nth(1)
    condition.get_by_label("Operator").select_option("contains")
    condition.get_by_label("Value").fill(f"RUI{tag}")
    # a funnel, then the conversion option (only offered for a funnel)
    expect(page.get_by_label("Conversion: each stage's share of the stage before")).to_be_hidden()
    page.get_by_label("Show as").select_option("funnel")
    page.get_by_label("Conversion: each stage's share of the stage before").check()
    _check_funnel(page, order)
    # a click on a step opens the orders behind it
    _steps(page).nth(order.index("approval")).click()
    page.wait_for_url(lambda url: "/reports/orders" in url, timeout=WAIT)
    listed = page.get_by_role("table", name="Orders").locator("tbody tr")
    expect(listed).to_have_count(2)
    page.go_back()

    # saved, then reopened on a phone: distinct count and conversion are kept
    page.goto(f"{base_url}/designer/reports/new?dataset=order_events")
    fields.locator('li[data-field="stage_to"]').get_by_title("Add as dimension").click()
    fields.locator('li[data-field="order.customer_id"]').get_by_title("Add as measure").click()
    measures.nth(1).get_by_label("Measure").select_option("count_distinct")
    measures.first.get_by_role("button", name="Remove").click()
    fields.locator('li[data-field="stage_to"]').get_by_title("Add as filter").click()
    page.locator("#rp-filters li").first.get_by_label("Operator").select_option("set")
    fields.locator('li[data-field="order.number"]').get_by_title("Add as filter").click()
    page.locator("#rp-filters li").nth(1).get_by_label("Operator").select_option("contains")
    page.locator("#rp-filters li").nth(1).get_by_label("Value").fill(f"RUI{tag}")
    page.get_by_label("Show as").select_option("funnel")
    page.get_by_label("Conversion: each stage's share of the stage before").check()
    page.get_by_label("Report key").fill(f"rui_{tag}")
    page.get_by_label("Name (English)").fill(f"Customers by stage {tag}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rp-status")).to_have_text("Published.", timeout=WAIT)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/designer/reports/rui_{tag}")
    expect(page.get_by_label("Conversion: each stage's share of the stage before")).to_be_checked()
    expect(page.locator("#rp-measures li").first.get_by_label("Measure")).to_have_value("count_distinct")
    _check_funnel(page, order)
    steps = _steps(page)
    steps.nth(2).scroll_into_view_if_needed()
    box = steps.nth(2).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the steps fit the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # switching the conversion off: the funnel is drawn by count again and the words go away
    page.get_by_label("Conversion: each stage's share of the stage before").uncheck()
    expect(page.locator("#rp-funnel-steps")).to_be_hidden(timeout=WAIT)


def test_a_todo_without_an_order_is_counted_and_listed(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    user = make_user(seed, username=f"reportui.zh.{tag}", roles=["designer", "admin"], locale="zh_CN",
                     display_name=f"RUI 设计 {tag}")
    seed.add(InboxItem(dedupe_key=f"reportui-{tag}", order_id=None, assignee_id=user.id, kind="task",
                       title=f"RUI 回电 {tag}", state="open", created_at=JUNE))
    seed.commit()
    sign_in(page, base_url, user.username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/designer/reports/new?dataset=todos")
    fields = page.locator("#rp-field-list")
    fields.locator('li[data-field="order.number"]').get_by_title("加为维度").click()
    fields.locator('li[data-field="assignee_id"]').get_by_title("加为指标").click()
    measures = page.locator("#rp-measures li")
    expect(measures.nth(1).get_by_label("指标")).to_have_value("sum")
    measures.nth(1).get_by_label("指标").select_option(label="去重计数")
    fields.locator('li[data-field="assignee_id"]').get_by_title("加为筛选").click()
    page.locator("#rp-filters li").first.locator("select").first.select_option("eq")
    page.locator("#rp-filters li").first.get_by_label("值").fill(str(user.id))
    page.get_by_label("展示为").select_option("funnel")
    expect(page.get_by_label("转化：各阶段占上一阶段的比例")).to_be_visible()
    page.get_by_label("展示为").select_option("table")
    expect(page.locator("#rp-preview")).to_have_attribute("aria-busy", "false", timeout=WAIT)
    row = page.locator("#rp-table table tbody tr")
    expect(row).to_have_count(1, timeout=WAIT)
    expect(row.locator("td")).to_have_text(["（空）", "1", "1"])
    row.click()
    page.wait_for_url(lambda url: "/reports/todos" in url, timeout=WAIT)
    table = page.get_by_role("table", name="待办")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text(f"RUI 回电 {tag}")
    expect(table).to_contain_text("无订单")
