"""The dashboard's overdue and risk lists stop at 10; "view all" opens the orders list filtered the
same way (before: no way past the tenth order)."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_view_all_overdue_and_risk_flagged(page: Page, base_url, seed):
    rep = make_user(seed, username="viewall.rep", roles=["sales"], locale="en")
    customer = make_customer(seed, name="View All Co")
    for i in range(12):
        make_order(seed, owner=rep, customer=customer, number=f"LATE-{i:02d}", stage="production",
                   planned_delivery=date(2026, 11, 1 + i))
    for i in range(11):
        make_order(seed, owner=rep, customer=customer, number=f"RISK-{i:02d}", stage="approval",
                   planned_delivery=date(2027, 6, 1), risk_flags=["delay_risk"])
    make_order(seed, owner=rep, customer=customer, number="CALM-1", stage="production",
               planned_delivery=date(2027, 6, 1))
    seed.commit()
    sign_in(page, base_url, "viewall.rep")
    page.goto(f"{base_url}/dashboard")
    expect(page.locator("#dashboard-overdue-list tbody tr")).to_have_count(10)
    page.get_by_role("link", name="View all 12 overdue orders").click()
    table = page.locator("#orders-table")
    expect(table.locator("tbody tr")).to_have_count(12)
    expect(table).not_to_contain_text("CALM-1")
    expect(table).not_to_contain_text("RISK-00")
    expect(page.get_by_label("Overdue only")).to_be_checked()

    page.goto(f"{base_url}/dashboard")
    page.get_by_role("link", name="View all 11 risk-flagged orders").click()
    expect(table.locator("tbody tr")).to_have_count(11)
    expect(table).not_to_contain_text("LATE-00")
    page.get_by_label("Risk-flagged only").uncheck()
    expect(table).to_contain_text("CALM-1")
