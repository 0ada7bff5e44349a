"""Issue 17: "urges and customer messages create no to-do and no badge in the main navigation" and
"the reply confirmation says 'sent' when the message is only queued".

The customer urges on the tracking page (phone): the owner, reading an order list on another page,
sees the bell's count go up live and finds the to-do in the inbox; a second urge an hour later
counts on the same to-do. The owner replies: the page says queued, then sent once the outbox has
delivered it to a real SMTP server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, expect
from sqlalchemy import update

from backend.auth.service import load_actor
from backend.notify import delivery
from backend.orders.models import OrderEvent
from backend.settings import Settings
from backend.tracking import service as tracking_service
from tests.backend.notify.servers import SmtpServer, free_port
from tests.browser.conftest import sign_in
from tests.browser.test_inbox import _ws_open
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "locale": "en-US"}


def test_an_urge_makes_a_todo_and_the_owners_bell_goes_up_on_another_page(browser: Browser, base_url, seed):
    rep = make_user(seed, username="ctodo.rep", roles=["sales"], display_name="Rep Tang", locale="en")
    customer = make_customer(seed, name="Sigma Valves", preferred_locale="en")
    order = make_order(seed, owner=rep, customer=customer, stage="production", number="CTODO-1")
    link = tracking_service.create_link(seed, actor=load_actor(seed, rep.id), order_id=order.id,
                                        now=datetime.now(UTC))
    seed.commit()
    customer_ctx = browser.new_context(**PHONE)
    staff_ctx = browser.new_context(**PHONE)  # the owner on a phone too: the bell is outside the folded menu
    try:
        staff = staff_ctx.new_page()
        sign_in(staff, base_url, "ctodo.rep")
        staff.goto(f"{base_url}/orders")
        bell = staff.get_by_role("link", name="To-dos and notifications")
        expect(bell).to_be_visible()
        expect(staff.locator("#inbox-count")).to_have_text("")
        _ws_open(staff)
        staff.evaluate("window.__noReload = true")

        phone = customer_ctx.new_page()
        phone.goto(f"{base_url}/t/{link.token}")
        phone.get_by_role("button", name="Hurry up my order").click()
        expect(phone.get_by_role("status").first).to_be_visible()

        # one to-do and one notification: the bell on the owner's order list says 2, without a reload
        expect(staff.locator("#inbox-count")).to_have_text("2", timeout=15_000)
        assert staff.evaluate("window.__noReload === true")
        assert staff.evaluate("document.documentElement.scrollWidth") <= 360

        # an hour later the customer urges again: counted on the same to-do
        seed.execute(update(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.type == "urged")
                     .values(at=datetime.now(UTC) - timedelta(hours=2)))
        seed.commit()
        phone.reload()
        phone.get_by_role("button", name="Hurry up my order").click()
        expect(staff.locator("#inbox-count")).to_have_text("3", timeout=15_000)  # 1 to-do + 2 notifications

        bell.click()
        card = staff.get_by_role("article", name="The customer is urging order CTODO-1")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("2 times")
        expect(card).to_contain_text("Customer urge")
        card.get_by_role("button", name="Complete").click()
        expect(staff.locator("#inbox-count")).to_have_text("2")
    finally:
        customer_ctx.close()
        staff_ctx.close()


def test_a_reply_says_queued_then_sent_once_the_outbox_delivers_it(browser: Browser, base_url, seed, live_engine):
    rep = make_user(seed, username="ctodo.reply", roles=["sales"], display_name="Rep Luo", locale="en")
    customer = make_customer(seed, name="Tau Pipes", preferred_locale="en", email="buyer@tau.example")
    order = make_order(seed, owner=rep, customer=customer, stage="production", number="CTODO-2")
    seed.commit()
    smtp = SmtpServer(free_port())
    settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=smtp.port,
                        smtp_from="gendan@example.com")
    ctx = browser.new_context(locale="en-US")
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "ctodo.reply")
        page.goto(f"{base_url}/orders/{order.id}")
        page.get_by_label("Reply to the customer").fill("Your pipes leave on Friday.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_role("status").filter(has_text="queued")).to_contain_text(
            "Reply saved and queued to go to the customer by Email")
        state = page.locator("#orders-conversation li.event-customer_reply .delivery")
        expect(state).to_have_text("Queued: waiting to be sent by Email.")

        # the mail server is down: the page says so in words, and that it tries again
        now = datetime.now(UTC)
        delivery.deliver_outbox(live_engine, now, settings=settings)
        expect(state).to_contain_text("Not sent yet, trying again: The receiving server refused the connection",
                                      timeout=15_000)

        smtp.start()
        delivery.deliver_outbox(live_engine, now + timedelta(minutes=1), settings=settings)
        expect(state).to_contain_text("Sent by Email at", timeout=15_000)
        expect(state).to_have_attribute("data-delivery", "sent")
        mails = [m for rcpt, m in smtp.messages if rcpt == ["buyer@tau.example"]]
        assert len(mails) == 1 and "Your pipes leave on Friday." in mails[0].get_body(("plain",)).get_content()
        expect(page.locator("#orders-conversation[hx-get]")).to_have_count(0)  # settled: no more polling
    finally:
        ctx.close()
        smtp.stop()
