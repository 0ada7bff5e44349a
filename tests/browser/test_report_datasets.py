"""A manager picks the to-dos data set, builds "open to-dos by role" (drags Role onto Dimensions,
filters open ones of this test's orders), sees the chart, clicks the Approver bar and lands on the
list of those to-dos; then the same on a 390 px phone with the fields' buttons."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from backend.inbox.models import InboxItem
from tests.browser.conftest import sign_in
from tests.browser.test_report_designer import WAIT, drag_to
from tests.factories.orders import make_order
from tests.factories.people import make_user


def _seed(seed, tag: str):
    owner = make_user(seed, display_name=f"DSB Rep {tag}")
    approver = make_user(seed, roles=["approver"], display_name=f"DSB Approver {tag}")
    clerk = make_user(seed, roles=["warehouse"], display_name=f"DSB Clerk {tag}")
    at = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)
    orders = [make_order(seed, owner=owner, number=f"DSB{tag}-{i}", at=at) for i in range(3)]
    todos = [(orders[0], approver, "open"), (orders[1], approver, "open"), (orders[2], approver, "open"),
             (orders[0], clerk, "open"), (orders[1], clerk, "done")]
    for i, (order, who, state) in enumerate(todos):
        seed.add(InboxItem(dedupe_key=f"dsb-{tag}-{i}", order_id=order.id, assignee_id=who.id, kind="approval",
                           title=f"DSB task {tag} {i}", state=state, created_at=at + timedelta(hours=i),
                           closed_at=at + timedelta(days=1) if state == "done" else None, node_key="approve"))
    seed.commit()


def _open_todos_of_tag(page: Page, tag: str, *, drag: bool) -> None:
    page.get_by_label("Data set").select_option("todos")
    fields = page.locator("#rp-field-list")
    expect(fields.locator('li[data-field="role"]')).to_have_count(1)
    expect(fields.locator('li[data-field="amount"]')).to_have_count(0)  # an order field: not in this data set
    if drag:
        drag_to(page, fields.locator('li[data-field="role"]'), page.locator("#rp-dimensions"))
    else:
        fields.locator('li[data-field="role"]').get_by_title("Add as dimension").click()
    expect(page.locator("#rp-dimensions li")).to_have_count(1, timeout=WAIT)
    fields.locator('li[data-field="is_open"]').get_by_title("Add as filter").click()
    expect(page.locator("#rp-filters li").first.get_by_label("Operator")).to_have_value("is_true")
    fields.locator('li[data-field="order.number"]').get_by_title("Add as filter").click()
    condition = page.locator("#rp-filters li").nth(1)
    condition.get_by_label("Operator").select_option("contains")
    condition.get_by_label("Value").fill(f"DSB{tag}")
    expect(page.locator("#rp-filter-words")).to_contain_text(f"DSB{tag}")
    expect(page.locator("#rp-preview")).to_have_attribute("aria-busy", "false", timeout=WAIT)
    table = page.locator("#rp-table table")
    expect(table.locator("thead th")).to_have_text(["Role", "To-dos"])
    expect(table.locator("tbody tr")).to_have_count(2, timeout=WAIT)
    expect(table.locator("tbody tr").nth(0).locator("td")).to_have_text(["Approver", "3"])
    expect(table.locator("tbody tr").nth(1).locator("td")).to_have_text(["Warehouse", "1"])


def _click_bar(page: Page, name: str, value: int) -> None:
    page.locator("#rp-chart").scroll_into_view_if_needed()
    point = page.evaluate("""([name, value]) => {
        const box = document.getElementById('rp-chart');
        const c = echarts.getInstanceByDom(box);
        const i = c.getOption().xAxis[0].data.indexOf(name);
        const top = c.convertToPixel({seriesIndex: 0}, [i, value]);
        const bottom = c.convertToPixel({seriesIndex: 0}, [i, 0]);
        const r = box.getBoundingClientRect();
        return [r.left + top[0], r.top + (top[1] + bottom[1]) / 2];
    }""", [name, value])
    page.mouse.click(point[0], point[1])


def _lands_on_the_approvers_todos(page: Page, tag: str) -> None:
    page.wait_for_url(lambda url: "/reports/todos" in url, timeout=WAIT)
    expect(page.locator("h1")).to_have_text("To-dos behind the report")
    rows = page.get_by_role("table", name="To-dos").locator("tbody tr")
    expect(rows).to_have_count(3)
    for i in range(3):
        expect(page.get_by_role("table", name="To-dos")).to_contain_text(f"DSB task {tag} {i}")
    expect(page.get_by_role("table", name="To-dos")).not_to_contain_text(f"DSB task {tag} 3")  # the clerk's
    expect(rows.first).to_contain_text(f"DSB Approver {tag}")
    expect(page.locator("#rp-drill-what")).to_contain_text("Role: Approver")


def test_manager_builds_open_todos_by_role_and_clicks_a_bar(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].upper()
    manager = make_user(seed, username=f"dsb.manager.{tag.lower()}", roles=["admin"], locale="en")
    _seed(seed, tag)
    sign_in(page, base_url, manager.username)

    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(f"{base_url}/designer/reports/new")
    _open_todos_of_tag(page, tag, drag=True)
    chart = page.locator("#rp-chart")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("data-rows", "2")
    _click_bar(page, "Approver", 3)
    _lands_on_the_approvers_todos(page, tag)

    # a phone: the same report with the fields' buttons; the page fits, the bar still opens the list
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/designer/reports/new")
    _open_todos_of_tag(page, tag, drag=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#rp-chart canvas")).to_be_visible()
    _click_bar(page, "Approver", 3)
    _lands_on_the_approvers_todos(page, tag)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_dashboard_pivot_tile_over_todos_opens_the_todos_of_a_cell(page: Page, base_url, seed):
    from backend.reports.models import DashboardDefinitionRow, ReportDefinitionRow

    tag = uuid.uuid4().hex[:6].upper()
    manager = make_user(seed, username=f"dsd.manager.{tag.lower()}", roles=["admin"], locale="en")
    _seed(seed, tag)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    report = {"schema_version": 1, "key": f"dsd_{tag.lower()}", "name": {"en": f"DSD to-dos {tag}"}, "dataset": "todos",
              "dimensions": [{"field": "role"}, {"field": "state"}], "measures": [{"op": "count"}],
              "filter": {"in": [f"DSB{tag}", {"var": "order.number"}]}, "view": {"type": "pivot"}}
    seed.add(ReportDefinitionRow(key=report["key"], version=1, status="published", definition=report,
                                 created_at=at, updated_at=at, published_at=at))
    board = {"schema_version": 1, "key": f"dsd_board_{tag.lower()}", "name": {"en": f"DSD board {tag}"},
             "tiles": [{"report": report["key"], "x": 0, "y": 0, "w": 12, "h": 4}],
             "shared_with": {"roles": [], "departments": []}}
    seed.add(DashboardDefinitionRow(key=board["key"], version=1, status="published", definition=board,
                                    created_at=at, updated_at=at, published_at=at))
    seed.commit()
    sign_in(page, base_url, manager.username)
    for width, height in ((1400, 1000), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{base_url}/dashboards/{board['key']}")
        tile = page.locator(f'.db-tile[data-report="{report["key"]}"][data-ready="true"]')
        expect(tile).to_have_count(1, timeout=WAIT)
        pivot = tile.locator("table.rp-pivot")
        expect(pivot.locator("thead th")).to_have_text(["Role / To-do state", "Open", "Done"])
        expect(pivot.locator("tbody tr").nth(0).locator("th, td")).to_have_text(["Approver", "3", ""])
        expect(pivot.locator("tbody tr").nth(1).locator("th, td")).to_have_text(["Warehouse", "1", "1"])
        pivot.locator("tbody tr").nth(1).locator("td").nth(1).click()  # the warehouse's done to-do
        page.wait_for_url(lambda url: f"/reports/{report['key']}/todos" in url, timeout=WAIT)
        rows = page.get_by_role("table", name="To-dos").locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(f"DSB task {tag} 4")
        expect(rows.first).to_contain_text("Done")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
