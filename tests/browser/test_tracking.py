"""The customer's tracking page at phone width: milestones, then "Shipped" with the tracking number
once staff enter it on their page; a revoked or malformed link shows a plain not-found page."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.auth.service import load_actor
from backend.tracking import service as tracking_service
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


def test_customer_sees_shipped_with_the_tracking_number_once_staff_enter_it(browser: Browser, base_url, seed):
    rep = make_user(seed, username="track.rep", roles=["sales"], display_name="Rep Zhou", locale="en",
                    phone="13800138000")
    customer = make_customer(seed, name="Harbour Tools", preferred_locale="en")
    order = make_order(seed, owner=rep, customer=customer, stage="production", number="TRACK-1")
    link = tracking_service.create_link(seed, actor=load_actor(seed, rep.id), order_id=order.id,
                                        now=datetime.now(UTC))
    seed.commit()

    customer_ctx = browser.new_context(**PHONE)
    staff_ctx = browser.new_context(locale="en-US")
    try:
        phone = customer_ctx.new_page()
        phone.goto(f"{base_url}/t/{link.token}")
        expect(phone.get_by_role("heading", name="Order TRACK-1")).to_be_visible()
        expect(phone.locator(".milestones li.done")).to_have_count(3)  # received, approved, in production
        expect(phone.locator(".milestones li.current")).to_contain_text("In production")
        expect(phone.get_by_text("Rep Zhou")).to_be_visible()
        expect(phone.get_by_role("link", name="13800138000")).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"

        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "track.rep")
        staff.goto(f"{base_url}/orders/{order.id}/tracking")
        staff.get_by_label("Carrier").fill("SF Express")
        staff.get_by_label("Tracking number").fill("SF1029384756")
        staff.get_by_role("button", name="Save shipment").click()
        staff.wait_for_url(lambda url: "saved=1" in url)

        phone.reload()
        shipped = phone.locator(".milestones li", has_text="Shipped")
        expect(shipped).to_have_class("done current")
        expect(shipped).to_contain_text("SF1029384756")
        expect(shipped).to_contain_text("SF Express")

        phone.get_by_role("button", name="Hurry up my order").click()
        expect(phone.get_by_role("status")).to_contain_text("We have told your sales contact")
        phone.get_by_role("button", name="Hurry up my order").click()
        expect(phone.get_by_role("status")).to_contain_text("already have your reminder")
    finally:
        customer_ctx.close()
        staff_ctx.close()


def test_revoked_and_malformed_links_show_a_plain_not_found_page(browser: Browser, base_url, seed):
    rep = make_user(seed, username="track.rep2", roles=["sales"], locale="en")
    order = make_order(seed, owner=rep, customer=make_customer(seed, name="Secret Buyer"), number="TRACK-2")
    actor = load_actor(seed, rep.id)
    link = tracking_service.create_link(seed, actor=actor, order_id=order.id, now=datetime.now(UTC))
    tracking_service.revoke_link(seed, actor=actor, order_id=order.id, now=datetime.now(UTC))
    seed.commit()
    ctx = browser.new_context(**PHONE, locale="en-US")
    try:
        phone = ctx.new_page()
        for path in (f"/t/{link.token}", "/t/not-a-token", "/t/" + "A" * 43):
            response = phone.goto(base_url + path)
            assert response.status == 404
            expect(phone.get_by_role("heading", name="Not found")).to_be_visible()
            body = phone.content()
            assert "TRACK-2" not in body and "Secret Buyer" not in body
    finally:
        ctx.close()
