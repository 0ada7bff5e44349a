"""Walkthrough at phone width (360 px): the inbox's "Overdue only" box and the new-order form's
customer field.

Found on the demo data: the check box stretched to half the screen with its words wrapped beside
it; the customer, the one field every order needs, showed no required mark and an empty choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


@contextmanager
def phone_page(browser: Browser, base_url: str, username: str, locale: str = "en-US") -> Iterator[Page]:
    """A 360 px touch screen, signed in through the login form (the other walkthroughs use it too)."""
    ctx = browser.new_context(**PHONE, locale=locale)
    try:
        page = ctx.new_page()
        sign_in(page, base_url, username)
        yield page
    finally:
        ctx.close()


def test_overdue_only_is_a_small_box_with_its_words_on_one_line(browser: Browser, base_url, seed):
    make_user(seed, username="walk.phone.approver", roles=["approver"], locale="zh_CN")
    seed.commit()
    with phone_page(browser, base_url, "walk.phone.approver") as page:
        page.goto(f"{base_url}/inbox")
        box = page.get_by_role("checkbox", name="只看逾期")
        expect(box).to_be_visible()
        assert box.bounding_box()["width"] < 40
        label = page.locator("label.check", has=box)
        assert label.bounding_box()["height"] < 40, "the words wrap onto a second line"
        page.get_by_text("只看逾期").click()
        expect(box).to_be_checked()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_customer_field_says_it_is_required(browser: Browser, base_url, seed):
    make_user(seed, username="walk.phone.sales", roles=["sales"], locale="en")
    seed.commit()
    with phone_page(browser, base_url, "walk.phone.sales") as page:
        page.goto(f"{base_url}/orders/new")
        field = page.locator(".form-field", has=page.get_by_label("Customer"))
        expect(field.locator(".req-mark")).to_be_visible()
        expect(page.get_by_label("Customer").locator("option").first).to_have_text("Choose a customer")
        page.get_by_role("button", name="Save order").click()
        expect(field.get_by_role("alert")).not_to_be_empty()


def test_orders_can_be_sorted_on_a_phone(browser: Browser, base_url, seed):
    """At 360 px the table's header row, and with it every sort link, is hidden."""
    from tests.factories.orders import make_order

    rep = make_user(seed, username="walk.phone.sorter", roles=["sales"], locale="en")
    for number, amount in (("SORT-A", "10.00"), ("SORT-B", "900.00"), ("SORT-C", "50.00")):
        make_order(seed, owner=rep, number=number, amount=amount)
    seed.commit()
    with phone_page(browser, base_url, "walk.phone.sorter") as page:
        rows = page.locator("#orders-table tbody tr")
        expect(rows).to_have_count(3)
        page.get_by_label("Sort").select_option(label="Amount, highest first")
        expect(rows.first).to_contain_text("SORT-B")
        page.get_by_label("Sort").select_option(label="Amount, lowest first")
        expect(rows.first).to_contain_text("SORT-A")
        page.reload()
        expect(page.get_by_label("Sort")).to_have_value("amount:asc")


def test_the_sort_list_stays_out_of_the_desktop_filters(page, base_url, seed):
    make_user(seed, username="walk.desk.sorter", roles=["sales"], locale="en")
    seed.commit()
    sign_in(page, base_url, "walk.desk.sorter")
    expect(page.locator("#orders-sort")).to_be_hidden()
