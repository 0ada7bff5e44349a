"""Walkthrough of the dashboard on a phone (360 px).

Found on the demo data: the open-orders-per-stage table turned into one stacked card per stage
("Stage: Payment / Orders: 406"), a whole screen for nine numbers, and the three figures wrapped
onto two rows.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.orders import make_order
from tests.factories.people import make_user


def test_stage_counts_read_as_a_table_on_a_phone(browser: Browser, base_url, seed):
    rep = make_user(seed, username="walk.dash.rep", roles=["sales"], locale="en")
    for stage in ("production", "production", "shipping"):
        make_order(seed, owner=rep, stage=stage)
    seed.commit()
    with phone_page(browser, base_url, "walk.dash.rep") as page:
        page.goto(f"{base_url}/dashboard")
        row = page.locator("#dashboard-stages tbody tr", has_text="Production")
        expect(row).to_be_visible()
        name, count = row.locator("td").nth(0), row.locator("td").nth(1)
        expect(count).to_have_text("2")
        assert abs(name.bounding_box()["y"] - count.bounding_box()["y"]) < 4, "stage and count on separate lines"
        expect(row.locator("td").nth(0)).to_have_text("Production")  # no "Stage:" card label
        tops = {round(k.bounding_box()["y"]) for k in page.locator(".kpis .kpi").all()}
        assert len(tops) == 1, "the three figures wrap onto two rows"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
