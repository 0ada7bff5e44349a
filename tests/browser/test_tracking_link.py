"""The tracking link a salesperson copies works: it points at the server the browser reached (no
GENDAN_BASE_URL set, whatever port it runs on), is copied or sent with one click, and the customer
sees "Approved" lit once the order is past approval."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_copy_the_link_open_it_and_send_it(browser: Browser, base_url, seed):
    rep = make_user(seed, username="link.rep", roles=["sales"], locale="en")
    customer = make_customer(seed, name="Link Works", preferred_locale="en", preferred_channel="email")
    order = make_order(seed, owner=rep, customer=customer, stage="tech_confirm", number="LINK-1")
    seed.commit()

    staff_ctx = browser.new_context(locale="en-US", permissions=["clipboard-read", "clipboard-write"])
    customer_ctx = browser.new_context(locale="en-US")
    try:
        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "link.rep")
        staff.goto(f"{base_url}/orders/{order.id}")
        staff.get_by_role("link", name="Customer tracking").click()
        staff.get_by_role("button", name="Make a tracking link").click()
        url = staff.get_by_label("Tracking link").input_value()
        assert url.startswith(f"{base_url}/t/"), url  # the live server's own port, not 8000

        staff.get_by_role("button", name="Copy link").click()
        expect(staff.get_by_role("status")).to_have_text("Copied")
        assert staff.evaluate("navigator.clipboard.readText()") == url

        phone = customer_ctx.new_page()
        phone.goto(url)
        expect(phone.get_by_role("heading", name="Order LINK-1")).to_be_visible()
        expect(phone.locator(".milestones li.done")).to_have_count(2)  # received, approved
        expect(phone.locator(".milestones li.current")).to_contain_text("Approved")

        staff.get_by_role("button", name="Send the link to the customer (Email)").click()
        expect(staff.get_by_text("Reply saved and queued to go to the customer by Email")).to_be_visible()
        expect(staff.get_by_text("You can follow your order LINK-1 online at any time.").first).to_be_visible()
    finally:
        staff_ctx.close()
        customer_ctx.close()
