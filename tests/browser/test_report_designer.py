"""The issue's report scenario: a manager drags a new report together (orders by owner and month,
p90 hours in approval), sees the chart, clicks a bar and lands on the orders behind it, saves and
exports it to Excel; the designer fits a 390 px phone."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from io import BytesIO

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.order_events import travel
from tests.factories.people import make_user

WAIT = 60_000  # the machine is shared: generous bounds


def drag_to(page: Page, source, target) -> None:
    """Pointer drag in small steps, pausing over the target well (SortableJS checks on a timer)."""
    source.scroll_into_view_if_needed()
    src = source.bounding_box()
    page.mouse.move(src["x"] + 20, src["y"] + src["height"] / 2)
    page.mouse.down()
    page.mouse.move(src["x"] + 30, src["y"] + src["height"] / 2 + 10, steps=5)
    dst = target.bounding_box()
    x, y = dst["x"] + dst["width"] - 30, dst["y"] + dst["height"] / 2  # past the last chip
    page.mouse.move(x, y, steps=15)
    for dx in (3, 6, 9):
        page.wait_for_timeout(120)
        page.mouse.move(x + dx, y + 1, steps=2)
    page.wait_for_timeout(120)
    page.mouse.up()

def drag_owners_by_month_p90_approval(page: Page, base_url: str, *, number_contains: str) -> None:
    """In a new report, by dragging: owner and created month as dimensions, p90 hours in approval
    as a measure (beside the count), and a filter keeping the orders whose number contains a text."""
    page.goto(f"{base_url}/designer/reports/new")
    fields = page.locator("#rp-field-list")
    drag_to(page, fields.locator('li[data-field="owner_id"]'), page.locator("#rp-dimensions"))
    expect(page.locator("#rp-dimensions li")).to_have_count(1, timeout=WAIT)
    drag_to(page, fields.locator('li[data-field="created_at"]'), page.locator("#rp-dimensions"))
    expect(page.locator("#rp-dimensions li")).to_have_count(2, timeout=WAIT)
    expect(page.locator("#rp-dimensions li").nth(1).get_by_label("Group by")).to_have_value("month")
    drag_to(page, fields.locator('li[data-field="stage_hours.approval"]'), page.locator("#rp-measures"))
    expect(page.locator("#rp-measures li")).to_have_count(2, timeout=WAIT)
    expect(page.locator("#rp-measures li").nth(1).get_by_label("Measure")).to_have_value("p90")
    drag_to(page, fields.locator('li[data-field="number"]'), page.locator("#rp-filters"))
    condition = page.locator("#rp-filters li").first
    condition.get_by_label("Operator").select_option("contains")
    condition.get_by_label("Value").fill(number_contains)



def test_manager_drags_a_report_clicks_a_bar_and_exports(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].upper()
    manager = make_user(seed, username=f"rpb.manager.{tag.lower()}", roles=["admin"], locale="en")
    rep_a = make_user(seed, display_name=f"RPB Rep A {tag}")
    rep_b = make_user(seed, display_name=f"RPB Rep B {tag}")
    june = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)
    for i, hours in enumerate((2, 4, 6)):
        travel(seed, owner=rep_a, created=june, number=f"RPB{tag}-A{i}",
               stages_hours=[("draft", 0), ("approval", 1), ("production", hours)])
    travel(seed, owner=rep_b, created=june, number=f"RPB{tag}-B0",
           stages_hours=[("draft", 0), ("approval", 1), ("production", 10)])
    seed.commit()

    sign_in(page, base_url, manager.username)
    page.set_viewport_size({"width": 1400, "height": 1300})
    # only this test's orders: order number contains the tag
    drag_owners_by_month_p90_approval(page, base_url, number_contains=f"RPB{tag}")
    expect(page.locator("#rp-filter-words")).to_contain_text(f"RPB{tag}")
    expect(page.locator("#rp-preview")).to_have_attribute("aria-busy", "false", timeout=WAIT)

    table = page.locator("#rp-table table")
    expect(table.locator("tbody tr")).to_have_count(2, timeout=WAIT)
    row_a = table.locator("tbody tr", has_text=f"RPB Rep A {tag}")
    # count 3; p90 of 2, 4, 6 hours = 4 + 0.8 × 2 = 5.6
    expect(row_a.locator("td")).to_have_text([f"RPB Rep A {tag}", "2026-06-01", "3", "5.6"])
    chart = page.locator("#rp-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("canvas")).to_have_count(1)

    # click Rep A's bar where the chart draws it
    point = page.evaluate("""(name) => {
        const box = document.getElementById('rp-chart');
        const c = echarts.getInstanceByDom(box);
        const axis = c.getOption().xAxis[0].data;
        const i = axis.indexOf(name);
        const top = c.convertToPixel({seriesIndex: 0}, [i, 3]);
        const bottom = c.convertToPixel({seriesIndex: 0}, [i, 0]);
        const r = box.getBoundingClientRect();
        return [r.left + top[0], r.top + (top[1] + bottom[1]) / 2];
    }""", f"RPB Rep A {tag}")
    page.mouse.click(point[0], point[1])
    page.wait_for_url(lambda url: "/reports/orders" in url, timeout=WAIT)
    expect(page.locator("h1")).to_have_text("Orders behind the report")
    listed = page.locator("table tbody tr")
    expect(listed).to_have_count(3)
    expect(page.locator("table")).to_contain_text(f"RPB{tag}-A0")
    expect(page.locator("table")).not_to_contain_text(f"RPB{tag}-B0")
    expect(page.locator("#rp-drill-what")).to_contain_text(f"RPB Rep A {tag}")

    # back to the designer: name it, save, export to Excel
    # the same report once more, with the fields' buttons (the keyboard's and the phone's way)
    page.goto(f"{base_url}/designer/reports/new")
    fields = page.locator("#rp-field-list")
    for well, field in (("dimension", "owner_id"), ("dimension", "created_at"), ("measure", "stage_hours.approval"),
                        ("filter", "number")):
        fields.locator(f'li[data-field="{field}"]').get_by_title(f"Add as {well}").click()
    condition = page.locator("#rp-filters li").first
    condition.get_by_label("Operator").select_option("contains")
    condition.get_by_label("Value").fill(f"RPB{tag}")
    page.get_by_label("Report key").fill(f"rpb_{tag.lower()}")
    page.get_by_label("Name (English)").fill(f"Approval p90 {tag}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rp-status")).to_have_text("Published.", timeout=WAIT)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export to Excel").click()
    sheet = load_workbook(BytesIO(open(download.value.path(), "rb").read())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Owner", "Created at (Month)", "Orders", "p90 · Hours in Approval"]
    assert [f"RPB Rep A {tag}", "2026-06-01", 3, 5.6] in rows
    assert [f"RPB Rep B {tag}", "2026-06-01", 1, 10.0] in rows

    # a phone: the designer stacks, nothing overflows sideways, the preview still draws
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/designer/reports/rpb_{tag.lower()}")
    expect(page.locator("#rp-table table tbody tr")).to_have_count(2, timeout=WAIT)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#rp-chart canvas")).to_be_visible()


def test_manager_places_a_report_on_a_dashboard_filters_and_clicks_a_bar(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    from backend.reports.dashboards import ensure_builtin
    from tests.factories.people import make_department

    manager = make_user(seed, username=f"rpd.manager.{tag}", roles=["admin"], locale="en")
    head_a, head_b = make_user(seed, display_name=f"RPD Head A {tag}"), make_user(seed, display_name=f"RPD Head B {tag}")
    team_a = make_department(seed, name=f"RPD Team A {tag}", head=head_a)
    make_department(seed, name=f"RPD Team B {tag}", head=head_b)
    june = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)
    for i in range(2):
        travel(seed, owner=head_a, created=june, number=f"RPD{tag}-A{i}", stages_hours=[("draft", 0), ("approval", 1)])
    travel(seed, owner=head_b, created=june, number=f"RPD{tag}-B0", stages_hours=[("draft", 0), ("approval", 1)])
    ensure_builtin(seed, june)
    seed.commit()
    sign_in(page, base_url, manager.username)
    page.set_viewport_size({"width": 1400, "height": 1300})
    # a report: orders by owner, only this test's orders
    page.goto(f"{base_url}/designer/reports/new")
    fields = page.locator("#rp-field-list")
    fields.locator('li[data-field="owner_id"]').get_by_title("Add as dimension").click()
    fields.locator('li[data-field="number"]').get_by_title("Add as filter").click()
    condition = page.locator("#rp-filters li").first
    condition.get_by_label("Operator").select_option("contains")
    condition.get_by_label("Value").fill(f"RPD{tag}")
    page.get_by_label("Report key").fill(f"rpd_{tag}")
    page.get_by_label("Name (English)").fill(f"RPD owners {tag}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rp-status")).to_have_text("Published.", timeout=WAIT)

    # onto the day-one dashboard: add, resize by its corner, save
    page.goto(f"{base_url}/dashboards")
    page.get_by_role("link", name="Sales director").click()
    expect(page.locator(".db-tile")).to_have_count(7, timeout=WAIT)
    page.locator("summary", has_text="Arrange and share").click()
    page.get_by_label("Add a report").select_option(f"rpd_{tag}")
    page.get_by_role("button", name="Add", exact=True).click()
    new_tile = page.locator(f'.db-tile[data-report="rpd_{tag}"]')
    expect(new_tile).to_have_count(1)
    handle = new_tile.get_by_title("Resize")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(box["x"] + 400, box["y"] + 90, steps=10)
    page.mouse.up()
    expect(new_tile).to_have_attribute("style", re.compile(r"span \d+ / span (9|10|11|12)\b"))
    page.get_by_role("button", name="Save dashboard").click()
    expect(page.locator(f'.db-tile[data-report="rpd_{tag}"][data-ready="true"]')).to_have_count(1, timeout=WAIT)
    expect(page.locator("#db-status")).to_have_text("Dashboard saved.", timeout=WAIT)  # said after the page is read again

    # filter the whole dashboard by team A: the tile counts only team A's orders
    page.locator("form.db-filters").get_by_label("Team").select_option(label=f"RPD Team A {tag}")
    page.get_by_role("button", name="Apply to every tile").click()
    tile = page.locator(f'.db-tile[data-report="rpd_{tag}"][data-ready="true"]')
    expect(tile.locator(".db-chart")).to_have_attribute("data-rows", "1", timeout=WAIT)
    tile.scroll_into_view_if_needed()
    point = page.evaluate("""(report) => {
        const box = document.querySelector(`.db-tile[data-report="${report}"] .db-chart`);
        const c = echarts.getInstanceByDom(box);
        const top = c.convertToPixel({seriesIndex: 0}, [0, 2]), bottom = c.convertToPixel({seriesIndex: 0}, [0, 0]);
        const r = box.getBoundingClientRect();
        return [r.left + top[0], r.top + (top[1] + bottom[1]) / 2];
    }""", f"rpd_{tag}")
    page.mouse.move(point[0], point[1], steps=5)  # as a hand does: over the bar (its tooltip shows), then click
    expect(page.get_by_text(f"RPD Head A {tag}").last).to_be_visible()
    page.wait_for_timeout(500)
    page.mouse.click(point[0], point[1])
    page.wait_for_url(lambda url: f"/reports/rpd_{tag}/orders" in url, timeout=WAIT)
    expect(page.locator("table tbody tr")).to_have_count(2)
    expect(page.locator("table")).to_contain_text(f"RPD{tag}-A1")
    del team_a
