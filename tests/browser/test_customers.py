"""Customers as sales use them: a list to search and filter (/customers was a 404), a new customer made
in the browser, the customer's orders on their page, and a customer picker that searches as you type
instead of a 201-entry dropdown."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_find_create_and_see_a_customers_orders(page: Page, base_url, seed):
    rep = make_user(seed, username="cust.rep", roles=["sales"], locale="en", display_name="Rep Cust")
    other = make_user(seed, username="cust.other", roles=["sales"], display_name="Other Cust")
    make_customer(seed, name="Zephyr Pumps CUST", tier="key", owner_id=rep.id)
    make_customer(seed, name="Zephyr Valves CUST", tier="small")  # unowned: the pool sales may take
    make_customer(seed, name="Zephyr Gears CUST", tier="small", owner_id=other.id)  # another team's
    seed.commit()
    sign_in(page, base_url, "cust.rep")
    page.goto(f"{base_url}/orders")
    page.get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()

    page.get_by_label("Search").fill("Zephyr")
    table = page.locator("#customers-table")
    expect(table.get_by_role("link", name="Zephyr Pumps CUST")).to_be_visible()
    expect(table.get_by_role("link", name="Zephyr Valves CUST")).to_be_visible()
    expect(table.get_by_role("link", name="Zephyr Gears CUST")).to_have_count(0)  # nor their contacts
    page.get_by_label("Tier").select_option(label="Key account")
    expect(table.get_by_role("link", name="Zephyr Valves CUST")).to_have_count(0)
    expect(table.get_by_role("link", name="Zephyr Pumps CUST")).to_be_visible()
    assert "tier=key" in page.url and "q=Zephyr" in page.url  # the filtered list can be shared

    page.get_by_role("link", name="New customer").click()
    page.get_by_label("Customer name").fill("Aurora Gears CUST")
    page.get_by_role("textbox", name="Email").fill("not an address")
    page.get_by_role("button", name="Create customer").click()
    expect(page.locator("#err-email")).not_to_be_empty()
    expect(page.get_by_label("Customer name")).to_have_value("Aurora Gears CUST")  # kept on a refusal
    page.get_by_role("textbox", name="Email").fill("buyer@aurora.example")
    page.get_by_role("button", name="Create customer").click()
    expect(page.get_by_role("heading", name="Aurora Gears CUST")).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()


def test_the_customer_page_lists_their_orders(page: Page, base_url, seed):
    rep = make_user(seed, username="cust.orders", roles=["sales"], locale="en")
    customer = make_customer(seed, name="Orders Listed CUST", owner_id=rep.id)
    for i in range(3):
        make_order(seed, owner=rep, customer=customer, number=f"CUST-ORD-{i}")
    seed.commit()
    sign_in(page, base_url, "cust.orders")
    page.goto(f"{base_url}/customers/{customer.id}")
    orders = page.locator("section", has=page.get_by_role("heading", name="Orders"))
    for i in range(3):
        expect(orders.get_by_role("link", name=f"CUST-ORD-{i}")).to_be_visible()
    orders.get_by_role("link", name="All orders of this customer").click()
    expect(page.locator("#orders-table")).to_contain_text("CUST-ORD-2")


def test_the_order_forms_picker_searches_as_you_type_by_keyboard(page: Page, base_url, seed):
    make_user(seed, username="cust.picker", roles=["sales"], locale="en")
    for i in range(25):
        make_customer(seed, name=f"Aaa Filler {i:02d} PICK")
    wanted = make_customer(seed, name="Zulu Hydraulics PICK", code="ZULU-7")
    seed.commit()
    sign_in(page, base_url, "cust.picker")
    page.goto(f"{base_url}/orders/new")
    picker = page.locator("#form-customer_id")
    expect(picker.locator("option")).to_have_count(21)  # a prompt and 20 customers, not every one
    search = page.get_by_label("Find by name, code or contact")
    search.focus()
    page.keyboard.type("ZULU-7")
    expect(picker.locator("option")).to_have_count(1)
    expect(picker).to_have_value(str(wanted.id))  # the single match is chosen
    page.keyboard.press("Tab")
    expect(picker).to_be_focused()
