"""Issue 17: a customer has several contacts, added and removed on the customer page; the primary
one is who messages go to (its email and language become the customer's)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.customers.models import Customer, CustomerContact
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user


def test_add_two_contacts_choose_the_primary_and_remove_one(page: Page, base_url, seed):
    rep = make_user(seed, username="frm.contacts", roles=["sales"], locale="en")
    customer = make_customer(seed, name="FRM- Contacts Co", owner_id=rep.id, email=None, contact_name=None)
    seed.commit()
    sign_in(page, base_url, "frm.contacts")
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{base_url}/customers/{customer.id}")
    box = page.locator("#customers-contacts")
    first = box.locator('[data-contact="0"]')
    first.get_by_label("Name").fill("FRM-王经理")
    first.get_by_label("Job title").fill("采购")
    first.get_by_label("Email").fill("wang@frm.example.com")
    box.get_by_role("button", name="Add contact").click()
    second = page.locator('#customers-contacts [data-contact="1"]')
    expect(page.locator('#customers-contacts [data-contact="0"]').get_by_label("Name")).to_have_value("FRM-王经理")
    second.get_by_label("Name").fill("FRM-Anna")
    second.get_by_label("Email").fill("anna@frm.example.com")
    second.get_by_label("Language").select_option("en")
    second.get_by_label("Primary contact").check()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width  # the contact rows fit a phone
    page.locator("#customers-contacts").get_by_role("button", name="Save contacts").click()
    expect(page.get_by_text("Contacts of FRM- Contacts Co were saved.")).to_be_visible()
    seed.expire_all()
    rows = seed.exec(select(CustomerContact).where(CustomerContact.customer_id == customer.id)
                     .order_by(CustomerContact.position)).scalars().all()
    assert [(r.name, r.role, r.email, r.is_primary) for r in rows] == [
        ("FRM-王经理", "采购", "wang@frm.example.com", False), ("FRM-Anna", None, "anna@frm.example.com", True)]
    stored = seed.get(Customer, customer.id)
    assert (stored.email, stored.preferred_locale) == ("anna@frm.example.com", "en")
    seed.rollback()
    # a bad email is refused next to its field; then remove the first contact
    row0 = page.locator('#customers-contacts [data-contact="0"]')
    row0.get_by_label("Email").fill("not an address")
    page.locator("#customers-contacts").get_by_role("button", name="Save contacts").click()
    expect(page.locator('[id="err-contacts.0.email"]')).not_to_be_empty()
    page.locator('#customers-contacts [data-contact="0"]').get_by_label("Remove").check()
    page.locator("#customers-contacts").get_by_role("button", name="Save contacts").click()
    expect(page.get_by_text("Contacts of FRM- Contacts Co were saved.")).to_be_visible()
    seed.expire_all()
    names = seed.exec(select(CustomerContact.name).where(CustomerContact.customer_id == customer.id)).scalars().all()
    seed.rollback()
    assert names == ["FRM-Anna"]
