"""A customer writes on the tracking page (phone width); the owner gets the rule's to-do, reads the
message on the order page, replies, and the customer sees the answer on the same link."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.auth.service import load_actor
from backend.rules import definitions
from backend.tracking import service as tracking_service
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


def _enable_message_rule(seed, number: str) -> None:
    """The admin's rule "on customer message → to-do for the owner", only for this test's order."""
    now = datetime.now(UTC)
    admin = load_actor(seed, make_user(seed, username="chat.admin", roles=["admin", "designer"]).id)
    seed.commit()
    rule = {
        "key": "browser_customer_wrote", "name": {"en": "Customer wrote"},
        "trigger": {"kind": "event", "events": ["inbound_message"]},
        "condition": {"==": [{"var": "number"}, number]},
        "actions": [{"type": "create_todo", "assignee": {"kind": "owner"},
                     "title_template": "Answer the customer of {{ order.number }}"}],
        "firing": {"mode": "every_n_hours", "every_hours": 1},
    }
    definitions.save_draft(seed, actor=admin, definition=rule, now=now)
    definitions.publish_rule(seed, actor=admin, key=rule["key"], now=now)
    definitions.enable_rule(seed, actor=admin, key=rule["key"], confirm=True, now=now)


def test_customer_writes_staff_get_a_todo_and_reply(browser: Browser, base_url, seed):
    rep = make_user(seed, username="chat.rep", roles=["sales"], display_name="Rep Qian", locale="en")
    customer = make_customer(seed, name="Lotus Fittings", preferred_locale="en", email="buyer@lotus.example")
    order = make_order(seed, owner=rep, customer=customer, stage="production", number="CHAT-1")
    link = tracking_service.create_link(seed, actor=load_actor(seed, rep.id), order_id=order.id,
                                        now=datetime.now(UTC))
    seed.commit()
    _enable_message_rule(seed, "CHAT-1")

    customer_ctx = browser.new_context(**PHONE)
    staff_ctx = browser.new_context(locale="en-US")
    try:
        phone = customer_ctx.new_page()
        phone.goto(f"{base_url}/t/{link.token}")
        box = phone.get_by_label("Your message", exact=True)
        form_alert = phone.locator("#tracking-messages").get_by_role("alert")
        send = phone.get_by_role("button", name="Send message")
        send.click()
        expect(form_alert).to_have_text("Please write your message.")
        too_long = "Could you deliver before the holiday? " * 60
        box.fill(too_long)
        phone.get_by_label("Your phone or e-mail (optional)").fill("139 1111 2222")
        send.click()
        expect(form_alert).to_contain_text("at most 2000 fit")
        expect(box).to_have_value(too_long)  # nothing typed is lost
        expect(phone.get_by_label("Your phone or e-mail (optional)")).to_have_value("139 1111 2222")
        box.fill("Could you deliver before the holiday?")
        send.click()
        expect(phone.get_by_role("status")).to_contain_text("we have your message")
        expect(phone.locator(".conversation")).to_contain_text("Could you deliver before the holiday?")
        expect(box).to_have_value("")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"

        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "chat.rep")
        staff.goto(f"{base_url}/inbox")
        expect(staff.get_by_role("article", name="Answer the customer of CHAT-1")).to_be_visible()

        staff.goto(f"{base_url}/orders/{order.id}")
        messages = staff.locator("#orders-messages")
        expect(messages).to_contain_text("Could you deliver before the holiday?")
        expect(messages).to_contain_text("Customer (139 1111 2222)")
        timeline = staff.locator("#orders-timeline")
        expect(timeline.locator("li.event-customer_message")).to_contain_text("Customer message")
        expect(timeline.locator("li.event-customer_message")).to_contain_text("Could you deliver before the holiday?")
        staff.get_by_label("Reply to the customer").fill("Yes, it leaves on Friday.")
        staff.get_by_role("button", name="Send reply").click()
        expect(staff.get_by_role("status")).to_contain_text("Reply saved and queued to go to the customer by Email")
        expect(messages).to_contain_text("Yes, it leaves on Friday.")
        expect(timeline.locator("li.event-customer_reply")).to_contain_text("Reply to the customer")

        phone.reload()
        answer = phone.locator(".conversation li.from-staff")
        expect(answer).to_contain_text("Yes, it leaves on Friday.")
        expect(answer).to_contain_text("Rep Qian answered")
    finally:
        customer_ctx.close()
        staff_ctx.close()
