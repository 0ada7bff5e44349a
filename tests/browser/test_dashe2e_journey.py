"""A sales director's whole journey with a NEW dashboard, in the browser: create it, build a report
by dragging (orders by owner and month, p90 hours in approval), place it and a day-one report on
the dashboard, move and resize the tiles, save, reload; set the dashboard's filters and click a bar;
share it with a role; a sales rep of the other team sees it and counts only what they may see; a
person it is not shared with gets a 404 page in their language."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_report_designer import drag_owners_by_month_p90_approval, drag_to
from tests.factories.order_events import travel
from tests.factories.orders import make_customer
from tests.factories.people import make_department, make_user

WAIT = 60_000  # the machine is shared: generous bounds
JUNE = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)
DAY_ONE = "day1_overdue_by_owner"


def two_teams(seed, tag: str) -> dict:
    """Team A (head + rep) and team B (head + rep), a key and a small customer, June orders."""
    head_a = make_user(seed, display_name=f"DE Head A {tag}")
    head_b = make_user(seed, display_name=f"DE Head B {tag}")
    team_a = make_department(seed, name=f"DE Team A {tag}", head=head_a)
    team_b = make_department(seed, name=f"DE Team B {tag}", head=head_b)
    rep_a = make_user(seed, display_name=f"DE Rep A {tag}", department=team_a, username=f"de.repa.{tag}")
    rep_b = make_user(seed, display_name=f"DE Rep B {tag}", department=team_b, username=f"de.repb.{tag}",
                      locale="en")
    key_customer = make_customer(seed, name=f"DE Key {tag}", tier="key")
    small_customer = make_customer(seed, name=f"DE Small {tag}", tier="small")
    hours = [("draft", 0), ("approval", 1), ("production", 4)]
    travel(seed, owner=rep_a, customer=key_customer, created=JUNE, number=f"DE{tag}-A1", stages_hours=hours)
    travel(seed, owner=rep_a, customer=key_customer, created=JUNE, number=f"DE{tag}-A2", stages_hours=hours)
    travel(seed, owner=head_a, customer=small_customer, created=JUNE, number=f"DE{tag}-A3", stages_hours=hours)
    travel(seed, owner=rep_b, customer=key_customer, created=JUNE, number=f"DE{tag}-B1", stages_hours=hours)
    return {"team_a": team_a, "team_b": team_b, "rep_a": rep_a, "rep_b": rep_b, "head_a": head_a}


def create_dashboard(page: Page, base_url: str, name: str, *, label: str = "New dashboard",
                     button: str = "Create") -> str:
    page.goto(f"{base_url}/dashboards")
    page.get_by_label(label).fill(name)
    page.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(r"/dashboards/dashboard_\d+$"), timeout=WAIT)
    expect(page.locator("h1")).to_contain_text(name)
    return page.url.rsplit("/", 1)[1]


def build_report_by_dragging(page: Page, base_url: str, tag: str) -> str:
    drag_owners_by_month_p90_approval(page, base_url, number_contains=f"DE{tag}")
    expect(page.locator("#rp-table table tbody tr")).to_have_count(3, timeout=WAIT)  # 3 owners, one month
    key = f"de_{tag}"
    page.get_by_label("Report key").fill(key)
    page.get_by_label("Name (English)").fill(f"DE owners p90 {tag}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rp-status")).to_have_text("Published.", timeout=WAIT)
    return key


def chart_owners(page: Page, report: str) -> list[str]:
    return page.evaluate("""(report) => {
        const box = document.querySelector(`.db-tile[data-report="${report}"] .db-chart`);
        return echarts.getInstanceByDom(box).getOption().xAxis[0].data;
    }""", report)


def bar_point(page: Page, report: str, name: str) -> list[float]:
    return page.evaluate("""([report, name]) => {
        const box = document.querySelector(`.db-tile[data-report="${report}"] .db-chart`);
        const c = echarts.getInstanceByDom(box);
        const i = c.getOption().xAxis[0].data.indexOf(name);
        const top = c.convertToPixel({seriesIndex: 0}, [i, 1]), bottom = c.convertToPixel({seriesIndex: 0}, [i, 0]);
        const r = box.getBoundingClientRect();
        return [r.left + top[0], r.top + (top[1] + bottom[1]) / 2];
    }""", [report, name])


def tile(page: Page, report: str):
    return page.locator(f'.db-tile[data-report="{report}"][data-ready="true"]')


def test_dashe2e_director_builds_filters_shares_a_new_dashboard(browser: Browser, page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    people = two_teams(seed, tag)
    director = make_user(seed, username=f"de.director.{tag}", roles=["designer", "viewer"], locale="en")
    make_user(seed, username=f"de.stranger.{tag}", roles=["warehouse"], locale="zh_CN")
    seed.commit()

    sign_in(page, base_url, director.username)
    page.set_viewport_size({"width": 1400, "height": 1300})
    board = create_dashboard(page, base_url, f"East weekly {tag}")
    report = build_report_by_dragging(page, base_url, tag)

    # onto the new dashboard: my report and a day-one report
    page.goto(f"{base_url}/dashboards/{board}")
    expect(page.locator(".db-tile")).to_have_count(0)
    page.locator("summary", has_text="Arrange and share").click()
    page.get_by_label("Add a report").select_option(report)
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_label("Add a report").select_option(DAY_ONE)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".db-tile")).to_have_count(2)
    # a tile added but not yet saved is named as the report is, not by its key
    expect(page.locator(f'.db-tile[data-report="{report}"] h2')).to_contain_text(f"DE owners p90 {tag}")
    # resize mine by its corner to (nearly) the full width
    handle = page.locator(f'.db-tile[data-report="{report}"]').get_by_title("Resize")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(box["x"] + 600, box["y"] + 90, steps=12)
    page.mouse.up()
    expect(page.locator(f'.db-tile[data-report="{report}"]')).to_have_attribute(
        "style", re.compile(r"span \d+ / span (9|10|11|12)\b"))
    # drag the day-one tile by its title in front of mine
    drag_to(page, page.locator(f'.db-tile[data-report="{DAY_ONE}"] h2'),
            page.locator(f'.db-tile[data-report="{report}"] h2'))
    expect(page.locator(".db-tile").first).to_have_attribute("data-report", DAY_ONE)
    page.get_by_role("button", name="Save dashboard").click()
    expect(tile(page, report)).to_have_count(1, timeout=WAIT)
    expect(page.locator("#db-status")).to_have_text("Dashboard saved.", timeout=WAIT)
    # read again: the layout is kept
    page.reload()
    expect(tile(page, report)).to_have_count(1, timeout=WAIT)
    expect(tile(page, DAY_ONE)).to_have_count(1, timeout=WAIT)
    assert page.locator(".db-tile").evaluate_all("ns => ns.map(n => n.dataset.report)") == [DAY_ONE, report]
    expect(page.locator(f'.db-tile[data-report="{report}"]')).to_have_attribute(
        "style", re.compile(r"span \d+ / span (9|10|11|12)\b"))
    expect(tile(page, report).locator("h2")).to_contain_text(f"DE owners p90 {tag}")
    assert sorted(chart_owners(page, report)) == sorted([f"DE Head A {tag}", f"DE Rep A {tag}", f"DE Rep B {tag}"])
    # take the day-one tile off (not saved yet): the tile left still shows its own report
    page.locator("summary", has_text="Arrange and share").click()
    page.locator(f'.db-tile[data-report="{DAY_ONE}"]').get_by_role("button", name="Remove").click()
    expect(page.locator(".db-tile")).to_have_count(1)
    expect(tile(page, report).locator("h2")).to_contain_text(f"DE owners p90 {tag}", timeout=WAIT)
    assert sorted(chart_owners(page, report)) == sorted([f"DE Head A {tag}", f"DE Rep A {tag}", f"DE Rep B {tag}"])
    page.reload()  # not saved: both tiles are back
    expect(page.locator(".db-tile")).to_have_count(2)

    # the dashboard's filters: team A, then key customers only
    filters = page.locator("form.db-filters")
    filters.get_by_label("Created from").fill("2026-06-01")
    filters.get_by_label("Created to").fill("2026-06-30")
    filters.get_by_label("Team").select_option(label=f"DE Team A {tag}")
    page.get_by_role("button", name="Apply to every tile").click()
    expect(tile(page, report).locator(".db-chart")).to_have_attribute("data-rows", "2", timeout=WAIT)
    filters.get_by_label("Customer tier").select_option("key")
    page.get_by_role("button", name="Apply to every tile").click()
    expect(tile(page, report).locator(".db-chart")).to_have_attribute("data-rows", "1", timeout=WAIT)
    assert chart_owners(page, report) == [f"DE Rep A {tag}"]
    expect(filters.get_by_label("Team")).to_have_value(str(people["team_a"].id))  # the filters stay shown
    x, y = bar_point(page, report, f"DE Rep A {tag}")
    page.mouse.move(x, y, steps=5)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.wait_for_url(lambda url: f"/reports/{report}/orders" in url, timeout=WAIT)
    listed = page.locator("table tbody tr")
    expect(listed).to_have_count(2)
    expect(page.locator("table")).to_contain_text(f"DE{tag}-A1")
    expect(page.locator("table")).not_to_contain_text(f"DE{tag}-A3")

    # share with the sales role
    page.goto(f"{base_url}/dashboards/{board}")
    page.locator("summary", has_text="Arrange and share").click()
    page.locator('#db-share input[value="sales"]').check()
    page.get_by_role("button", name="Save dashboard").click()
    expect(page.locator("#db-status")).to_have_text("Dashboard saved.", timeout=WAIT)

    # a sales rep of team B gets it and counts only their own orders
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
    try:
        rep = ctx.new_page()
        sign_in(rep, base_url, people["rep_b"].username)
        rep.goto(f"{base_url}/dashboards")
        rep.get_by_role("link", name=f"East weekly {tag}").click()
        expect(tile(rep, report)).to_have_count(1, timeout=WAIT)
        assert chart_owners(rep, report) == [f"DE Rep B {tag}"]
        # the rep asks for team A: nothing of theirs, said in words (not an empty frame of axes)
        rep.locator("form.db-filters").get_by_label("Team").select_option(label=f"DE Team A {tag}")
        rep.get_by_role("button", name="Apply to every tile").click()
        expect(tile(rep, report).locator(".db-empty")).to_have_text("Nothing to show with these filters.",
                                                                    timeout=WAIT)
        expect(rep.get_by_role("button", name="Save dashboard")).to_have_count(0)
    finally:
        ctx.close()

    # a person it is not shared with: a 404 page in their language
    ctx = browser.new_context(locale="zh-CN")
    try:
        other = ctx.new_page()
        sign_in(other, base_url, f"de.stranger.{tag}")
        answer = other.goto(f"{base_url}/dashboards/{board}")
        assert answer.status == 404
        expect(other.locator("main, body").first).to_contain_text("未找到")
        other.goto(f"{base_url}/dashboards")
        expect(other.get_by_role("link", name=f"East weekly {tag}")).to_have_count(0)
    finally:
        ctx.close()


def add_tile_and_save(page: Page, report: str) -> None:
    page.locator("summary.db-edit-summary, details.db-edit > summary").first.click()
    page.get_by_label("Add a report").or_(page.get_by_label("添加报表")).select_option(report)
    page.locator("#db-add-button").click()
    page.locator("#db-save").click()
    # "saved" is said once the page is read again (not before: the reload would take the page from
    # under the next step), where it can be read: its panel is open again
    expect(page.locator("#db-status")).to_have_text(re.compile(r"^(Dashboard saved\.|看板已保存。)$"), timeout=WAIT)
    expect(page.locator("#db-status")).to_be_visible()
    expect(tile(page, report)).to_have_count(1, timeout=WAIT)


def test_dashe2e_export_schedule_rename_and_delete_a_new_dashboard(page: Page, base_url, seed):
    from io import BytesIO

    from openpyxl import load_workbook

    tag = uuid.uuid4().hex[:6].lower()
    people = two_teams(seed, tag)
    director = make_user(seed, username=f"de.director2.{tag}", roles=["designer", "viewer"], locale="en")
    make_user(seed, display_name=f"DE Reader {tag}")
    seed.commit()
    sign_in(page, base_url, director.username)
    page.set_viewport_size({"width": 1400, "height": 1300})
    report = build_report_by_dragging(page, base_url, tag)
    board = create_dashboard(page, base_url, f"To rename {tag}")
    add_tile_and_save(page, report)

    # a tile in Excel, with the dashboard's filters: team A's owners only
    page.locator("form.db-filters").get_by_label("Team").select_option(label=f"DE Team A {tag}")
    page.get_by_role("button", name="Apply to every tile").click()
    expect(tile(page, report).locator(".db-chart")).to_have_attribute("data-rows", "2", timeout=WAIT)
    with page.expect_download() as download:
        tile(page, report).get_by_role("link", name="Export to Excel").click()
    sheet = load_workbook(BytesIO(open(download.value.path(), "rb").read())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Owner", "Created at (Month)", "Orders", "p90 · Hours in Approval"]
    assert sorted(r[0] for r in rows[1:]) == sorted([f"DE Head A {tag}", f"DE Rep A {tag}"])

    # schedule the dashboard's delivery from its page
    section = page.locator("#rp-schedules")
    section.get_by_label("How often").select_option("daily")
    section.get_by_label("Time").fill("08:15")
    section.get_by_label(f"DE Reader {tag}").check()
    section.get_by_role("button", name="Add schedule").click()
    expect(page.locator("#rp-schedule-list li")).to_contain_text("08:15", timeout=WAIT)

    # rename: a blank name is refused in words, a new one is kept and listed
    page.goto(f"{base_url}/dashboards/{board}")
    page.locator("summary", has_text="Arrange and share").click()
    page.get_by_label("Name", exact=True).fill("   ")
    page.get_by_role("button", name="Save dashboard").click()
    expect(page.locator("#db-status")).to_have_text("Give the dashboard a name of at most 80 characters.", timeout=WAIT)
    page.get_by_label("Name", exact=True).fill(f"East weekly {tag}")
    page.get_by_role("button", name="Save dashboard").click()
    expect(page.locator("h1")).to_have_text(f"East weekly {tag}", timeout=WAIT)
    expect(tile(page, report)).to_have_count(1, timeout=WAIT)  # the tiles stay
    page.goto(f"{base_url}/dashboards")
    expect(page.get_by_role("link", name=f"East weekly {tag}")).to_be_visible()
    expect(page.get_by_role("link", name=f"To rename {tag}")).to_have_count(0)

    # delete: asked first; dismissed keeps it, accepted removes it; its page is then a 404 in words
    page.goto(f"{base_url}/dashboards/{board}")
    page.locator("summary", has_text="Arrange and share").click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete dashboard").click()
    expect(page).to_have_url(f"{base_url}/dashboards/{board}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete dashboard").click()
    page.wait_for_url(f"{base_url}/dashboards", timeout=WAIT)
    expect(page.get_by_role("link", name=f"East weekly {tag}")).to_have_count(0)
    answer = page.goto(f"{base_url}/dashboards/{board}")
    assert answer.status == 404
    expect(page.get_by_text(f"Dashboard {board} was not found.")).to_be_visible()
    # the report itself stays
    assert page.goto(f"{base_url}/designer/reports/{report}").status == 200
    del people


def test_dashe2e_create_and_share_in_chinese_on_a_phone(browser: Browser, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    people = two_teams(seed, tag)
    make_user(seed, username=f"de.zh.{tag}", roles=["designer", "viewer"], locale="zh_CN")
    make_user(seed, username=f"de.zhrep.{tag}", department=people["team_b"], locale="zh_CN")
    seed.commit()
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              locale="zh-CN")
    try:
        page = ctx.new_page()
        sign_in(page, base_url, f"de.zh.{tag}")
        board = create_dashboard(page, base_url, f"华南月报 {tag}", label="新建看板", button="创建")
        add_tile_and_save(page, DAY_ONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        expect(tile(page, DAY_ONE).get_by_role("link", name="导出 Excel")).to_be_visible()
        page.locator("#db-share input[value='sales']").check()
        page.get_by_role("button", name="保存看板").click()
        expect(page.locator("#db-status")).to_have_text("看板已保存。", timeout=WAIT)
        # said where it can be read: the panel it is in is open again after the page is read again
        expect(page.locator("#db-status")).to_be_visible()
        expect(page.locator("#db-share input[value='sales']")).to_be_checked()
        expect(page.get_by_label("名称", exact=True)).to_have_value(f"华南月报 {tag}")
        expect(page.get_by_role("button", name="删除看板")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for box in page.locator("details.db-edit input, details.db-edit button, details.db-edit select").all():
            b = box.bounding_box()
            assert b is None or b["x"] + b["width"] <= 390, box
    finally:
        ctx.close()
    # a sales rep reads it on their phone, in Chinese: listed, drawn, nothing wider than the screen
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              locale="zh-CN")
    try:
        page = ctx.new_page()
        sign_in(page, base_url, f"de.zhrep.{tag}")
        page.goto(f"{base_url}/dashboards")
        page.get_by_role("link", name=f"华南月报 {tag}").click()
        expect(page).to_have_url(f"{base_url}/dashboards/{board}")
        expect(tile(page, DAY_ONE)).to_have_count(1, timeout=WAIT)
        expect(page.get_by_role("button", name="应用到所有图块")).to_be_visible()
        expect(page.get_by_role("button", name="保存看板")).to_have_count(0)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        ctx.close()


def test_dashe2e_tiles_stored_out_of_grid_order_draw_their_own_reports(page: Page, base_url, seed):
    """A definition imported with its tiles not in grid order (the JSON API takes any order): each
    box draws its own report (the page sorts by place; it used to fetch by the sorted index)."""
    from backend.auth.service import load_actor
    from backend.reports.dashboards import ensure_builtin, save_and_publish

    tag = uuid.uuid4().hex[:6].lower()
    director = make_user(seed, username=f"de.order.{tag}", roles=["designer", "viewer"], locale="en")
    seed.commit()
    ensure_builtin(seed, JUNE)
    key = f"de_order_{tag}"
    save_and_publish(seed, actor=load_actor(seed, director.id), now=datetime.now(UTC), definition={
        "key": key, "name": {"en": f"Out of order {tag}", "zh": f"Out of order {tag}"},
        "tiles": [{"report": "day1_top_customers", "x": 0, "y": 4, "w": 6, "h": 4},
                  {"report": DAY_ONE, "x": 0, "y": 0, "w": 6, "h": 4}]})
    sign_in(page, base_url, director.username)
    page.goto(f"{base_url}/dashboards/{key}")
    expect(tile(page, DAY_ONE).locator("h2")).to_contain_text("Overdue orders by owner", timeout=WAIT)
    expect(tile(page, "day1_top_customers").locator("h2")).to_contain_text("Top customers", timeout=WAIT)
    assert page.locator(".db-tile").evaluate_all("ns => ns.map(n => n.dataset.report)") == [DAY_ONE, "day1_top_customers"]
