"""Bulk actions on the orders list: tick all, assign an owner, add a tag (before: one order at a time)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_select_all_then_assign_and_tag(page: Page, base_url, seed):
    admin = make_user(seed, username="bulk.admin", roles=["admin"], locale="en")
    rep = make_user(seed, username="bulk.rep", roles=["sales"], display_name="Bulk Receiver")
    customer = make_customer(seed, name="Bulk Co BULK")
    for i in range(3):
        make_order(seed, owner=admin, customer=customer, number=f"MASS-{i}")
    make_order(seed, owner=admin, customer=make_customer(seed, name="Other"), number="NOTMASS-1")
    seed.commit()
    sign_in(page, base_url, "bulk.admin")
    page.goto(f"{base_url}/orders?q=Bulk+Co")
    expect(page.locator("#orders-table tbody tr")).to_have_count(3)
    page.get_by_label("Select all orders on this page").check()
    page.get_by_label("Assign the selected orders to").select_option(label="Bulk Receiver")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("#orders-bulk-result")).to_have_text("3 orders changed.")
    assert "q=Bulk" in page.url  # back on the same list

    page.locator("#orders-table tr", has_text="MASS-1").get_by_role("checkbox", name="Select this order").check()
    page.get_by_label("Tag to add").fill("vip")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator("#orders-bulk-result")).to_have_text("1 order changed.")
    seed.expire_all()
    rows = {o.number: o for o in seed.exec(select(Order).where(Order.number.like("%MASS-%"))).scalars()}
    assert {n: o.owner_id for n, o in rows.items()} == {"MASS-0": rep.id, "MASS-1": rep.id, "MASS-2": rep.id,
                                                         "NOTMASS-1": admin.id}
    assert rows["MASS-1"].tags == ["vip"] and rows["MASS-0"].tags == []
