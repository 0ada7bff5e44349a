"""Customer messages on SQLite and PostgreSQL: from the tracking page (stored, contact time, owner
told, rate limit, translated refusals that keep the text), from a signed webhook (accepted, bad
signature, unknown order: refused and logged), the `inbound_message` rule event, staff replies."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.auth.service import load_actor
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.ingest.inbound import sign
from backend.ingest.models import InboundDelivery
from backend.notify.models import Notification, OutboxMessage
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderUpdate
from backend.rules import definitions
from backend.rules.models import RuleFiring
from backend.tracking import messages as customer_messages
from backend.tracking import service as tracking_service
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


@pytest.fixture
def setup(session, now):
    rep = make_user(session, roles=["sales"], display_name="Rep Wu", locale="en")
    customer = make_customer(session, name="Delta Valves", preferred_locale="en", email="buyer@delta.example")
    order = make_order(session, owner=rep, customer=customer, stage="production", number="MSG-1",
                       source="shop", external_id="W-77")
    session.commit()
    actor = load_actor(session, rep.id)
    link = tracking_service.create_link(session, actor=actor, order_id=order.id, now=now)
    return {"rep": rep, "actor": actor, "customer": customer, "order": order, "token": link.token}


def message_events(session, order_id, kind=customer_messages.RECEIVED):
    return session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.type == kind)
                        .order_by(OrderEvent.id)).scalars().all()


class TestMessageFromTheTrackingPage:
    def test_message_is_stored_moves_the_contact_time_and_tells_the_owner(self, session, now, setup):
        customer_messages.send_from_tracking(session, token=setup["token"], text="  Can you ship on Friday?  ",
                                             contact="+86 138 0000 0000", now=now)
        [event] = message_events(session, setup["order"].id)
        assert (event.note, event.actor_label, event.after) == (
            "Can you ship on Friday?", "customer", {"contact": "+86 138 0000 0000", "via": "tracking"})
        assert session.get(Order, setup["order"].id).last_customer_contact_at == now
        note = session.exec(select(Notification).where(Notification.user_id == setup["rep"].id)).scalars().one()
        assert note.title == "The customer wrote about order MSG-1"
        assert note.body == "+86 138 0000 0000: Can you ship on Friday?"
        assert [(m.is_from_customer, m.text) for m in customer_messages.list_messages(session, setup["order"].id)] \
            == [(True, "Can you ship on Friday?")]

    @pytest.mark.parametrize(("text", "contact", "field", "code"), [
        ("   ", None, "text", "message.empty"),
        ("x" * 2001, None, "text", "message.too_long"),
        ("Hello", "y" * 121, "contact", "message.contact_too_long"),
    ])
    def test_bad_input_is_refused_with_a_reason_and_nothing_changes(self, session, now, setup, text, contact,
                                                                   field, code):
        with pytest.raises(GendanError) as err:
            customer_messages.send_from_tracking(session, token=setup["token"], text=text, contact=contact, now=now)
        assert (err.value.code, err.value.status, err.value.fields[field][0]) == ("validation.failed", 422, code)
        session.rollback()
        assert message_events(session, setup["order"].id) == []
        assert session.get(Order, setup["order"].id).last_customer_contact_at is None

    def test_at_most_five_an_hour(self, session, now, setup):
        for minute in range(5):
            customer_messages.send_from_tracking(session, token=setup["token"], text=f"line {minute}", contact=None,
                                                 now=now + timedelta(minutes=minute))
        with pytest.raises(GendanError) as err:
            customer_messages.send_from_tracking(session, token=setup["token"], text="sixth", contact=None,
                                                 now=now + timedelta(minutes=10))
        assert (err.value.code, err.value.status, err.value.params) == (
            "message.too_many", 429, {"count": 5, "minutes": 50})
        session.rollback()
        customer_messages.send_from_tracking(session, token=setup["token"], text="later", contact=None,
                                             now=now + timedelta(minutes=61))
        assert len(message_events(session, setup["order"].id)) == 6

    def test_a_revoked_link_cannot_write(self, session, now, setup):
        tracking_service.revoke_link(session, actor=setup["actor"], order_id=setup["order"].id, now=now)
        with pytest.raises(GendanError) as err:
            customer_messages.send_from_tracking(session, token=setup["token"], text="hi", contact=None, now=now)
        assert err.value.code == "tracking.not_found"


def enable_message_rule(session, now):
    admin = load_actor(session, make_user(session, roles=["admin", "designer"]).id)
    definition = {
        "key": "customer_wrote", "name": {"en": "Customer wrote"},
        "trigger": {"kind": "event", "events": ["inbound_message"]},
        "condition": {"==": [{"var": "status"}, "open"]},
        "actions": [{"type": "create_todo", "assignee": {"kind": "owner"}, "priority": "high",
                     "title_template": "Answer the customer of {{ order.number }}"}],
        "firing": {"mode": "every_n_hours", "every_hours": 1},
    }
    definitions.save_draft(session, actor=admin, definition=definition, now=now)
    definitions.publish_rule(session, actor=admin, key="customer_wrote", now=now)
    definitions.enable_rule(session, actor=admin, key="customer_wrote", confirm=True, now=now)


class TestInboundMessageRule:
    def test_event_rule_fires_once_per_message_and_not_on_other_changes(self, session, now, setup):
        enable_message_rule(session, now)
        order = session.get(Order, setup["order"].id)
        orders_service.update_order(session, actor=setup["actor"], order_id=order.id, now=now,
                                    payload=OrderUpdate(version=order.version, data={"note": "packed"}))
        assert session.exec(select(func.count()).select_from(RuleFiring)).scalar_one() == 0
        customer_messages.send_from_tracking(session, token=setup["token"], text="Any news?", contact=None, now=now)
        firings = session.exec(select(RuleFiring.order_id, RuleFiring.trigger)).all()
        assert firings == [(order.id, "inbound_message")]
        # the rule's to-do, beside the one every customer message gives the owner (issue 17)
        [todo] = session.exec(select(InboxItem).where(InboxItem.order_id == order.id,
                                                      InboxItem.kind != "customer_message")).scalars().all()
        assert (todo.assignee_id, todo.title, todo.priority) == (setup["rep"].id, "Answer the customer of MSG-1",
                                                                 "high")
        assert session.exec(select(func.count()).select_from(InboxItem).where(
            InboxItem.order_id == order.id, InboxItem.kind == "customer_message")).scalar_one() == 1


def _post(client, source, secret, payload, *, signature=None):
    body = json.dumps(payload).encode()
    ts = int(utcnow().timestamp())
    return client.post(f"/api/v1/inbound/{source}/messages", content=body, headers={
        "X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": signature or sign(secret, ts, body),
        "Content-Type": "application/json"})


@pytest.fixture
def mail_source(client, session, setup):
    admin = make_user(session, roles=["admin"], username="mail.admin")
    session.commit()
    login(client, admin.username)
    resp = client.post("/api/v1/inbound-sources", json={"key": "mail", "name": "Mail gateway"})
    assert resp.status_code == 201, resp.text
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    return resp.json()["secret"]


def deliveries(session):
    return session.exec(select(InboundDelivery).order_by(InboundDelivery.id)).scalars().all()


class TestSignedWebhook:
    def test_accepted_by_number_and_by_another_sources_external_id(self, client, session, setup, mail_source):
        first = _post(client, "mail", mail_source, {"number": "MSG-1", "text": "Where is it?", "from": "b@d.example"})
        assert first.status_code == 200, first.text
        assert first.json()["outcome"] == "message" and first.json()["order_id"] == setup["order"].id
        second = _post(client, "mail", mail_source, {"external_id": "W-77", "source": "shop", "text": "Thanks!"})
        assert second.status_code == 200, second.text
        session.expire_all()
        events = message_events(session, setup["order"].id)
        assert [(e.note, e.after["via"], e.after["contact"]) for e in events] == [
            ("Where is it?", "webhook:mail", "b@d.example"), ("Thanks!", "webhook:mail", None)]
        assert session.get(Order, setup["order"].id).last_customer_contact_at is not None
        assert [(d.is_accepted, d.outcome, d.order_id, d.external_id) for d in deliveries(session)] == [
            (True, "message", setup["order"].id, "MSG-1"), (True, "message", setup["order"].id, "W-77")]
        login(client, "mail.admin")
        log_page = client.get("/admin/inbound")
        assert log_page.status_code == 200 and "客户留言" in log_page.text  # the outcome, in the admin's Chinese

    @pytest.mark.parametrize(("payload", "bad_signature", "status", "code"), [
        ({"number": "MSG-1", "text": "hi"}, True, 401, "inbound.signature_invalid"),
        ({"number": "NOPE-9", "text": "hi"}, False, 422, "inbound.order_unknown"),
        ({"external_id": "W-77", "text": "hi"}, False, 422, "inbound.order_unknown"),  # W-77 is the shop's
        ({"text": "hi"}, False, 422, "inbound.message_invalid"),
        ({"number": "MSG-1", "text": ""}, False, 422, "inbound.message_invalid"),
        ({"number": "MSG-1", "text": ["hi"]}, False, 422, "inbound.message_invalid"),
    ])
    def test_refused_deliveries_store_nothing_and_are_logged(self, client, session, setup, mail_source, payload,
                                                             bad_signature, status, code):
        resp = _post(client, "mail", mail_source, payload, signature="sha256=" + "0" * 64 if bad_signature else None)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code
        assert resp.json()["error"]["message"]  # translated, never the bare code
        session.expire_all()
        assert message_events(session, setup["order"].id) == []
        [delivery] = deliveries(session)
        assert (delivery.is_accepted, delivery.outcome, delivery.code) == (False, "rejected", code)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class TestPages:
    def test_customer_form_confirms_and_a_refusal_keeps_the_typed_text(self, client, session, setup):
        page = client.get(f"/t/{setup['token']}")
        assert "Send us a message" in page.text
        token = _csrf(page.text)
        long_text = "Please call me. " * 130
        refused = client.post(f"/t/{setup['token']}/messages", data={"csrf_token": token, "text": long_text,
                                                                     "contact": "0755-1234"},
                              headers={"HX-Request": "true"})
        assert refused.status_code == 422
        assert "at most 2000 fit" in refused.text
        assert long_text.strip() in refused.text and 'value="0755-1234"' in refused.text
        empty = client.post(f"/t/{setup['token']}/messages", data={"csrf_token": token, "text": " "})
        assert empty.status_code == 422 and "Please write your message." in empty.text
        sent = client.post(f"/t/{setup['token']}/messages", data={"csrf_token": token, "text": "Call me please"},
                           headers={"HX-Request": "true"})
        assert sent.status_code == 200 and "we have your message" in sent.text and "Call me please" in sent.text
        session.expire_all()
        assert [e.note for e in message_events(session, setup["order"].id)] == ["Call me please"]

    def test_chinese_customer_gets_the_error_in_chinese(self, client, session, setup):
        session.get(Customer, setup["customer"].id).preferred_locale = "zh_CN"
        session.commit()
        token = _csrf(client.get(f"/t/{setup['token']}").text)
        refused = client.post(f"/t/{setup['token']}/messages", data={"csrf_token": token, "text": ""})
        assert refused.status_code == 422 and "请填写留言内容。" in refused.text

    def test_staff_reply_goes_out_by_the_customers_channel_and_shows_on_both_pages(self, client, session, now,
                                                                                    setup):
        customer_messages.send_from_tracking(session, token=setup["token"], text="Is it ready?", contact=None,
                                             now=now)
        tracking_service.urge(session, token=setup["token"], now=now)
        login(client, setup["rep"].username)
        page = client.get(f"/orders/{setup['order'].id}")
        assert "Is it ready?" in page.text and "Customer message" in page.text
        assert '<span class="who">Customer</span>' in page.text and '<span class="who">customer</span>' not in page.text
        empty = client.post(f"/orders/{setup['order'].id}/messages", data={"text": "  "})
        assert empty.status_code == 422 and "Please write your message." in empty.text
        resp = client.post(f"/orders/{setup['order'].id}/messages", data={"text": "Ships Friday."},
                           follow_redirects=False)
        assert resp.status_code == 303 and "replied=email" in resp.headers["location"]
        session.expire_all()
        [out] = session.exec(select(OutboxMessage).where(OutboxMessage.order_id == setup["order"].id)).scalars().all()
        assert (out.channel, out.recipient, out.subject) == ("email", "buyer@delta.example",
                                                            "Reply about your order MSG-1")
        assert out.body.startswith("Ships Friday.") and f"/t/{setup['token']}" in out.body
        [reply] = message_events(session, setup["order"].id, customer_messages.REPLIED)
        assert (reply.note, reply.actor_id, reply.after) == ("Ships Friday.", setup["rep"].id, {"channel": "email"})
        shown = client.get(resp.headers["location"])
        assert "Reply saved and queued to go to the customer by Email" in shown.text
        assert "Queued: waiting to be sent by Email." in shown.text  # issue 17: not "sent" while queued
        assert "Ships Friday." in client.get(f"/t/{setup['token']}").text

    def test_reply_to_an_unsubscribed_customer_is_only_on_the_tracking_page(self, session, now, setup):
        session.get(Customer, setup["customer"].id).is_unsubscribed = True
        channel = customer_messages.reply(session, actor=setup["actor"], order_id=setup["order"].id,
                                          text="Noted.", now=now)
        assert channel is None
        assert session.exec(select(OutboxMessage)).first() is None
        assert [m.text for m in customer_messages.list_messages(session, setup["order"].id)] == ["Noted."]


class TestReplyToAChosenContact:
    """Issue 17: a customer has several contacts; a reply goes to the primary one unless staff pick
    another, in that contact's language."""

    def test_the_chosen_contact_gets_the_reply_in_their_language(self, client, session, now, setup):
        from backend.customers import service as customers_service
        from backend.customers.schemas import ContactIn

        customers_service.replace_contacts(session, actor=load_actor(session, make_user(session, roles=["admin"]).id),
                                           customer_id=setup["customer"].id, now=now, contacts=[
            ContactIn(name="FRM-Buyer", email="buyer@delta.example", locale="en", is_primary=True),
            ContactIn(name="FRM-王会计", role="财务", email="wang@delta.example", locale="zh_CN"),
            ContactIn(name="FRM-NoMail", phone="+86 138 0000 0000")])
        login(client, setup["rep"].username)
        page = client.get(f"/orders/{setup['order'].id}").text
        assert "FRM-王会计 · 财务" in page and 'name="contact_id"' in page
        ids = {c.name: c.id for c in customers_service.list_contacts(session, actor=setup["actor"],
                                                                      customer_id=setup["customer"].id)}
        resp = client.post(f"/orders/{setup['order'].id}/messages",
                           data={"text": "发票已开。", "contact_id": str(ids["FRM-王会计"])}, follow_redirects=False)
        assert resp.status_code == 303, resp.text
        session.expire_all()
        [out] = session.exec(select(OutboxMessage).where(OutboxMessage.order_id == setup["order"].id)).scalars().all()
        assert (out.recipient, out.subject) == ("wang@delta.example", "关于您的订单 MSG-1 的回复")
        no_mail = client.post(f"/orders/{setup['order'].id}/messages",
                              data={"text": "Hello", "contact_id": str(ids["FRM-NoMail"])})
        assert no_mail.status_code == 422 and "The preferred channel email needs email." in no_mail.text
        other = make_customer(session, name="FRM-other")
        session.commit()
        foreign = customers_service.replace_contacts(
            session, actor=load_actor(session, make_user(session, roles=["admin"]).id), customer_id=other.id,
            now=now, contacts=[ContactIn(name="FRM-Stranger", email="s@other.example")])
        resp = client.post(f"/orders/{setup['order'].id}/messages",
                           data={"text": "Hello", "contact_id": str(foreign[0].id)})
        assert resp.status_code == 422  # not this customer's contact
        assert len(session.exec(select(OutboxMessage)).scalars().all()) == 1


class TestUrgeRaisesCustomerUrged:
    def test_the_tracking_pages_urge_fires_a_customer_urged_rule(self, session, now, setup):
        admin = load_actor(session, make_user(session, roles=["admin", "designer"]).id)
        definitions.save_draft(session, actor=admin, now=now, definition={
            "key": "urged", "name": {"en": "Urged"}, "trigger": {"kind": "event", "events": ["customer_urged"]},
            "condition": {">=": [{"var": "urge_count"}, 1]},
            "actions": [{"type": "notify", "recipients": [{"kind": "owner"}], "title_template": "Urged"}]})
        definitions.publish_rule(session, actor=admin, key="urged", now=now)
        definitions.enable_rule(session, actor=admin, key="urged", confirm=True, now=now)
        tracking_service.urge(session, token=setup["token"], now=now)
        assert session.exec(select(RuleFiring.order_id, RuleFiring.trigger)).all() == [
            (setup["order"].id, "customer_urged")]


class TestApi:
    def test_staff_read_the_conversation_and_reply_over_the_api(self, client, session, now, setup):
        customer_messages.send_from_tracking(session, token=setup["token"], text="Invoice please", contact=None,
                                             now=now)
        login(client, setup["rep"].username)
        url = f"/api/v1/orders/{setup['order'].id}/messages"
        empty = client.post(url, json={"text": " "})
        assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation.failed"
        sent = client.post(url, json={"text": "Sent today."})
        assert (sent.status_code, sent.json()) == (201, {"channel": "email"})
        listed = client.get(url).json()
        assert [(m["is_from_customer"], m["text"], m["who"]) for m in listed] == [
            (True, "Invoice please", None), (False, "Sent today.", "Rep Wu")]

    def test_someone_who_cannot_see_the_order_reads_nothing(self, client, session, setup):
        stranger = make_user(session, roles=["sales"], username="msg.stranger")
        session.commit()
        login(client, stranger.username)
        resp = client.get(f"/api/v1/orders/{setup['order'].id}/messages")
        assert resp.status_code == 404
        assert client.post(f"/api/v1/orders/{setup['order'].id}/messages", json={"text": "hi"}).status_code == 404

    def test_the_link_api_keeps_its_paths(self, client, session, setup):
        login(client, setup["rep"].username)
        made = client.post(f"/api/v1/orders/{setup['order'].id}/tracking-link")
        assert made.status_code == 200 and made.json()["token"] == setup["token"]
        assert client.delete(f"/api/v1/orders/{setup['order'].id}/tracking-link").json() == {"revoked": 1}


class TestConversationRefresh:
    def test_the_conversation_refreshes_alone(self, client, session, now, setup):
        customer_messages.reply(session, actor=setup["actor"], order_id=setup["order"].id, text="Ready.", now=now)
        resp = client.get(f"/t/{setup['token']}", headers={"HX-Request": "true", "HX-Target": "tracking-conversation"})
        assert resp.status_code == 200 and "Ready." in resp.text and "Rep Wu answered" in resp.text
        assert resp.text.lstrip().startswith('<div id="tracking-conversation"') and "<form" not in resp.text
