"""The new-order form keeps the browser console clean while a person types, adds rows and saves:
before, each keystroke's live evaluation (hx-sync replace) aborted the one still on its way, and
saving aborted the last, and htmx logged every abort as an error (`htmx:sendAbort`)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_order_amount_live import published_form  # noqa: F401  (fixture)
from tests.factories.orders import make_customer
from tests.factories.people import make_user

WAIT = 60_000


@pytest.fixture
def console(page: Page):
    said: list[str] = []
    page.on("console", lambda msg: said.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: said.append(f"pageerror: {exc}"))
    return said


def test_dashe2e_new_order_form_console_stays_clean(page: Page, base_url, seed, published_form, console):  # noqa: F811
    make_user(seed, username="dashe2e.typist", roles=["sales"], locale="en")
    customer = make_customer(seed, name="Dashe2e Typing Co")
    seed.commit()
    sign_in(page, base_url, "dashe2e.typist")
    page.goto(f"{base_url}/orders/new")
    page.get_by_label("Find by name, code or contact").press_sequentially("Dashe2e Typ", delay=40)
    page.get_by_label("Customer").select_option(str(customer.id))
    page.locator("[name=product]").press_sequentially("Butterfly valve", delay=30)
    page.locator("[name=quantity]").press_sequentially("1200", delay=260)
    page.locator("[name=unit_price]").press_sequentially("35", delay=20)
    page.get_by_role("button", name="Add row").click()
    expect(page.locator('[name="items.1.qty"]')).to_be_visible(timeout=WAIT)  # the new row is there
    page.locator('[name="items.0.qty"]').press_sequentially("60", delay=250)
    page.locator('[name="items.0.price"]').press_sequentially("140", delay=250)
    expect(page.locator("#orders-amount")).to_have_text("CN¥8,400.00", timeout=WAIT)
    page.locator('[name="items.0.qty"]').press_sequentially("0", delay=0)
    page.get_by_role("button", name="Save order").click()
    page.wait_for_url(lambda url: "/orders/new" not in url, timeout=WAIT)
    page.wait_for_load_state("load")
    assert not [c for c in console if "htmx" in c or "error" in c], console
