"""The shell in a real browser: sign in, see the orders list, open an order."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_sign_in_and_open_an_order(page: Page, base_url, seed):
    rep = make_user(seed, username="smoke.rep", roles=["sales"], locale="en")
    order = make_order(seed, owner=rep, customer=make_customer(seed, name="Smoke Works"), number="SMOKE-1")
    seed.commit()
    sign_in(page, base_url, "smoke.rep")
    expect(page.get_by_role("link", name="SMOKE-1")).to_be_visible()
    page.get_by_role("link", name="SMOKE-1").click()
    expect(page.get_by_role("heading", name="Order SMOKE-1")).to_be_visible()
    expect(page.locator("dl.fields")).to_contain_text("Smoke Works")
    assert page.url.endswith(f"/orders/{order.id}")
