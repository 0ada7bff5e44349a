"""The sales director opens the day-one dashboard, filtered to their own team: the funnel says how
many orders reached each stage and each stage's share of the one before, and the payment ageing
shows the 0–30 / 31–60 / 61–90 / 90+ day buckets; then the same on a 390 px phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_report_designer import WAIT
from tests.factories.order_events import travel
from tests.factories.people import make_department, make_user

FUNNEL = '.db-tile[data-report="day1_stage_funnel"][data-ready="true"]'
AGEING = '.db-tile[data-report="day1_payment_overdue"][data-ready="true"]'


def _seed(seed, tag: str) -> int:
    from backend.reports.dashboards import ensure_builtin

    director = make_user(seed, username=f"insight2.director.{tag}", roles=["sales"], locale="en",
                         display_name=f"INS2 Director {tag}")
    team = make_department(seed, name=f"INS2 Team {tag}", head=director)
    june = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)
    today = datetime.now(UTC).date()
    paths = [[("draft", 0), ("approval", 1), ("production", 2)], [("draft", 0), ("approval", 1), ("production", 2)],
             [("draft", 0), ("approval", 1), ("draft", 1), ("approval", 1)],  # rework: approval counts once
             [("draft", 0)]]
    overdue = [10, 45, 100, 120]  # days past payment due: 0–30, 31–60, 90+, 90+
    for i, (path, days) in enumerate(zip(paths, overdue, strict=True)):
        travel(seed, owner=director, created=june, number=f"INS2{tag}-{i}", stages_hours=path,
               payment_due=today - timedelta(days=days), amount=1000 * (i + 1))
    ensure_builtin(seed, june)
    seed.commit()
    return team.id


def _check_dashboard(page: Page) -> None:
    funnel = page.locator(FUNNEL)
    expect(funnel).to_have_count(1, timeout=WAIT)
    steps = funnel.get_by_role("list", name="Conversion from stage to stage").locator("li")
    expect(steps).to_have_count(3)
    # the steps follow the flow's stage order: the published flows of the shared browser database
    # (other tests publish theirs) decide it, so the order is read from the page and each share is
    # checked against the step shown before it
    counts = {"Draft": 4, "Approval": 3, "Production": 2}
    shown = [next(n for n in counts if (steps.nth(i).text_content() or "").strip().startswith(n)) for i in range(3)]
    assert sorted(shown) == sorted(counts)
    labels = page.evaluate("""(sel) => echarts.getInstanceByDom(document.querySelector(sel + ' .db-chart'))
        .getOption().series[0].data.map((d) => d.name + ' ' + d.value + ' ' + d.label.formatter)""", FUNNEL)
    for i, name in enumerate(shown):
        if i == 0:
            expect(steps.nth(i)).to_have_text(f"{name}{counts[name]}")
            assert labels[i] == f"{name} {counts[name]} {{b}}: {{c}}"
            continue
        share = round(100 * counts[name] / counts[shown[i - 1]])
        expect(steps.nth(i)).to_have_text(f"{name}{counts[name]}{share}% of the stage before")
        expect(steps.nth(i).locator(".db-step-share")).to_be_visible()
        assert labels[i] == f"{name} {counts[name]} {{b}}: {{c}} ({share}%)"

    ageing = page.locator(AGEING)
    expect(ageing).to_have_count(1, timeout=WAIT)
    expect(ageing.locator("h2")).to_have_text("Payment overdue ageing")
    shown = page.evaluate("""(sel) => { const o = echarts.getInstanceByDom(document.querySelector(sel + ' .db-chart')).getOption();
        return [o.xAxis[0].data, o.series[0].data.map((d) => d.value)]; }""", AGEING)
    assert shown == [["0–30 days", "31–60 days", "Over 90 days"], [1, 1, 2]]


def test_sales_director_sees_conversion_and_payment_ageing(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    team = _seed(seed, tag)
    sign_in(page, base_url, f"insight2.director.{tag}")
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(f"{base_url}/dashboards")
    page.get_by_role("link", name="Sales director").click()
    page.locator("form.db-filters").get_by_label("Team").select_option(label=f"INS2 Team {tag}")
    page.get_by_role("button", name="Apply to every tile").click()
    page.wait_for_url(lambda url: f"team={team}" in url, timeout=WAIT)
    _check_dashboard(page)
    # a phone: tiles stack, the funnel's shares stay readable
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _check_dashboard(page)
    funnel = page.locator(FUNNEL)
    funnel.scroll_into_view_if_needed()
    expect(funnel.locator(".db-step-share").nth(1)).to_be_visible()
    box = funnel.bounding_box()
    assert box["width"] <= 390 and box["x"] >= 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
