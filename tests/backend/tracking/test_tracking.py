"""Customer tracking: milestones, links (≥128-bit, revocable), urge with a rate limit, unsubscribe,
milestone messages through the outbox, and the public page (phone-first, no data on a bad link)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderUpdate
from backend.orders.service import update_order
from backend.people.models import User
from backend.tracking import milestones as ms
from backend.tracking import service as tracking_service
from backend.tracking.models import TrackingLink
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


class TestMilestones:
    @pytest.mark.parametrize(("stage", "status", "data", "expected"), [
        ("draft", "open", {}, ["received"]),
        ("approval", "open", {}, ["received"]),
        ("tech_confirm", "open", {}, ["received", "approved"]),  # what the flow sets after approval
        ("production", "open", {}, ["received", "approved", "in_production"]),
        ("shipping", "open", {}, ["received", "approved", "in_production"]),
        ("shipping", "open", {"tracking_no": "SF1"}, ["received", "approved", "in_production", "shipped"]),
        ("shipping", "open", {"tracking_no": "  "}, ["received", "approved", "in_production"]),
        ("delivered", "open", {}, ["received", "approved", "in_production", "shipped", "delivered"]),
        ("payment", "open", {}, ["received", "approved", "in_production", "shipped", "delivered", "invoiced"]),
        ("payment", "completed", {}, list(ms.MILESTONES)),
        ("custom_node", "open", {"invoice_no": "INV-1"}, ["received", "invoiced"]),
    ])
    def test_reached(self, stage, status, data, expected):
        assert ms.reached(stage=stage, status=status, data=data) == expected

    def test_newly_reached(self):
        before = {"stage": "shipping", "status": "open", "data": {}}
        after = {"stage": "shipping", "status": "open", "data": {"tracking_no": "SF1"}}
        assert ms.newly_reached(before, after) == ["shipped"]
        assert ms.newly_reached(after, after) == []


@pytest.fixture
def setup(session):
    rep = make_user(session, roles=["sales"], display_name="Rep Li", phone="13800000001")
    customer = make_customer(session, name="Acme Pumps", preferred_locale="en")
    order = make_order(session, owner=rep, customer=customer, stage="shipping", number="TRK-1")
    session.commit()
    return {"rep": load_actor(session, rep.id), "order": order, "customer": customer}


class TestLinks:
    def test_token_is_long_random_and_one_active_link_per_order(self, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        assert len(link.token) == 43 and tracking_service.TOKEN_RE.match(link.token)  # 256 bits
        again = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        assert again.id == link.id
        other = make_order(session, owner=session.get(User, setup["rep"].user_id))
        assert tracking_service.create_link(session, actor=setup["rep"], order_id=other.id, now=now).token != link.token

    def test_revoked_malformed_and_unknown_tokens_are_the_same_not_found(self, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        assert tracking_service.view(session, token=link.token, now=now).order_number == "TRK-1"
        assert tracking_service.revoke_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now) == 1
        for token in (link.token, "short", "x" * 43, link.token[:-1] + "!", "' OR 1=1 --"):
            with pytest.raises(GendanError) as err:
                tracking_service.view(session, token=token, now=now)
            assert err.value.code == "tracking.not_found" and err.value.params == {}
        fresh = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        assert fresh.token != link.token

    def test_someone_who_cannot_see_the_order_cannot_make_a_link(self, session, now, setup):
        stranger = load_actor(session, make_user(session, roles=["finance"]).id)
        with pytest.raises(GendanError) as err:
            tracking_service.create_link(session, actor=stranger, order_id=setup["order"].id, now=now)
        assert err.value.code == "order.not_found"


class TestUrgeAndUnsubscribe:
    def test_urge_counts_logs_alerts_the_owner_and_is_rate_limited(self, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        assert tracking_service.urge(session, token=link.token, now=now) == 1
        with pytest.raises(GendanError) as err:
            tracking_service.urge(session, token=link.token, now=now + timedelta(minutes=20))
        assert (err.value.code, err.value.status, err.value.params) == ("tracking.urge_too_soon", 429, {"minutes": 20})
        assert tracking_service.urge(session, token=link.token, now=now + timedelta(minutes=61)) == 2
        order = session.get(Order, setup["order"].id)
        assert order.urge_count == 2
        events = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                       OrderEvent.type == "urged")).scalars().all()
        assert [e.actor_label for e in events] == ["customer", "customer"]
        notes = session.exec(select(Notification).where(Notification.user_id == setup["rep"].user_id)
                             .order_by(Notification.id)).scalars().all()  # no order: PostgreSQL's is any
        assert len(notes) == 2 and notes[0].title == "客户催单：订单 TRK-1（第 1 次）"

    def test_unsubscribe_stops_milestone_messages(self, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        tracking_service.unsubscribe(session, token=link.token, now=now)
        assert session.get(Customer, setup["customer"].id).is_unsubscribed
        order = session.get(Order, setup["order"].id)
        update_order(session, actor=setup["rep"], order_id=order.id, now=now,
                     payload=OrderUpdate(version=order.version, data={"tracking_no": "SF9"}))
        assert session.exec(select(OutboxMessage).where(OutboxMessage.order_id == order.id)).first() is None


class TestMilestoneMessages:
    def test_entering_the_tracking_number_tells_the_customer_once_in_their_language(self, session, now, setup):
        order = session.get(Order, setup["order"].id)
        tracking_service.record_shipment(session, actor=setup["rep"], order_id=order.id, version=order.version,
                                         carrier="SF Express", tracking_no="SF1234567", now=now)
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.order_id == order.id)).scalars().all()
        assert [(r.channel, r.recipient, r.dedupe_key) for r in rows] == [
            ("email", setup["customer"].email, f"milestone:{order.id}:shipped")]
        link = session.exec(select(TrackingLink).where(TrackingLink.order_id == order.id)).scalars().one()
        assert rows[0].subject == "Order TRK-1: Shipped"
        assert "SF1234567" in rows[0].body and f"/t/{link.token}" in rows[0].body
        assert rows[0].payload["link"].endswith(f"/t/{link.token}")
        # a second change does not repeat the message
        order = session.get(Order, order.id)
        update_order(session, actor=setup["rep"], order_id=order.id, now=now,
                     payload=OrderUpdate(version=order.version, data={"note": "x"}))
        assert len(session.exec(select(OutboxMessage).where(OutboxMessage.order_id == order.id)).all()) == 1

    def test_only_chosen_milestones_are_sent(self, session, now, setup):
        admin = load_actor(session, make_user(session, roles=["admin"]).id)
        tracking_service.save_notified_milestones(session, actor=admin, milestones={"delivered"})
        order = session.get(Order, setup["order"].id)
        tracking_service.record_shipment(session, actor=setup["rep"], order_id=order.id, version=order.version,
                                         carrier="SF", tracking_no="SF1", now=now)
        assert session.exec(select(OutboxMessage).where(OutboxMessage.order_id == order.id)).first() is None
        with pytest.raises(GendanError) as err:
            tracking_service.save_notified_milestones(session, actor=admin, milestones={"teleported"})
        assert err.value.code == "tracking.unknown_milestone"

    def test_a_new_order_tells_the_customer_it_was_received_when_chosen(self, session, now, setup):
        from backend.orders.schemas import OrderCreate
        from backend.orders.service import create_order

        admin = load_actor(session, make_user(session, roles=["admin"]).id)
        customer = setup["customer"]
        quiet, _ = create_order(session, actor=admin, now=now,
                                payload=OrderCreate(customer_id=customer.id, amount="10", number="RCV-0"))
        assert session.exec(select(OutboxMessage).where(OutboxMessage.order_id == quiet.id)).first() is None
        tracking_service.save_notified_milestones(session, actor=admin, milestones={"received", "shipped"})
        told, _ = create_order(session, actor=admin, now=now,
                               payload=OrderCreate(customer_id=customer.id, amount="10", number="RCV-1"))
        history, _ = create_order(session, actor=admin, now=now, payload=OrderCreate(
            customer_id=customer.id, amount="10", number="RCV-2", stage="delivered"))
        keys = {r.order_id: r.dedupe_key for r in session.exec(select(OutboxMessage).where(
            OutboxMessage.order_id.in_([told.id, history.id]))).scalars()}
        # an order created already delivered (an import of history) hears only "received" too
        assert keys == {told.id: f"milestone:{told.id}:received", history.id: f"milestone:{history.id}:received"}

    def test_shipment_needs_a_tracking_number(self, session, now, setup):
        order = session.get(Order, setup["order"].id)
        with pytest.raises(GendanError) as err:
            tracking_service.record_shipment(session, actor=setup["rep"], order_id=order.id, version=order.version,
                                             carrier="SF", tracking_no="  ", now=now)
        assert "tracking_no" in err.value.fields


class TestTrackingPage:
    def test_public_page_shows_milestones_in_the_customers_language(self, client, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        order = session.get(Order, setup["order"].id)
        order.data = {"carrier": "SF Express", "tracking_no": "SF7654321"}
        session.commit()
        resp = client.get(f"/t/{link.token}", headers={"Accept": "text/html"})
        assert resp.status_code == 200
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        html = resp.text
        assert "Order TRK-1" in html and "Shipped" in html and "SF7654321" in html and "Rep Li" in html
        assert "13800000001" in html

    def test_chinese_customer_gets_chinese(self, client, session, now, setup):
        customer = session.get(Customer, setup["customer"].id)
        customer.preferred_locale = "zh_CN"
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        resp = client.get(f"/t/{link.token}", headers={"Accept": "text/html"})
        assert "已发货" in resp.text or "生产中" in resp.text

    @pytest.mark.parametrize("token", ["nope", "A" * 43, "../../etc/passwd"])
    def test_bad_links_show_a_plain_not_found_page(self, client, token):
        resp = client.get(f"/t/{token}", headers={"Accept": "text/html"})
        assert resp.status_code == 404
        assert "Order" not in resp.text.split("<main", 1)[1] or "TRK" not in resp.text

    def test_revoked_link_leaks_nothing(self, client, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        tracking_service.revoke_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        resp = client.get(f"/t/{link.token}", headers={"Accept": "text/html"})
        assert resp.status_code == 404
        for secret in ("TRK-1", "Acme", "Rep Li", "13800000001"):
            assert secret not in resp.text

    def test_urge_button_then_rate_limit_message(self, client, session, now, setup):
        link = tracking_service.create_link(session, actor=setup["rep"], order_id=setup["order"].id, now=now)
        page = client.get(f"/t/{link.token}")
        import re

        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        first = client.post(f"/t/{link.token}/urge", data={"csrf_token": token}, headers={"HX-Request": "true"})
        assert first.status_code == 200 and "Thank you" in first.text
        second = client.post(f"/t/{link.token}/urge", data={"csrf_token": token}, headers={"HX-Request": "true"})
        assert "already have your reminder" in second.text
        session.expire_all()
        assert session.get(Order, setup["order"].id).urge_count == 1
        forged = client.post(f"/t/{link.token}/urge", data={"csrf_token": "forged"})
        assert forged.status_code == 403

    def test_staff_enter_the_shipment_on_their_page(self, client, session, now, setup):
        rep = session.get(User, setup["rep"].user_id)
        login(client, rep.username)
        order = session.get(Order, setup["order"].id)
        resp = client.post(f"/orders/{order.id}/tracking/link", follow_redirects=False)
        assert resp.status_code == 303
        resp = client.post(f"/orders/{order.id}/tracking/shipment",
                           data={"version": order.version, "carrier": "SF", "tracking_no": ""})
        assert resp.status_code == 422 and "field-error" in resp.text
        resp = client.post(f"/orders/{order.id}/tracking/shipment",
                           data={"version": order.version, "carrier": "SF", "tracking_no": "SF42"},
                           follow_redirects=False)
        assert resp.status_code == 303
        session.expire_all()
        assert session.get(Order, order.id).data["tracking_no"] == "SF42"
        page = client.get(f"/orders/{order.id}/tracking")
        assert "/t/" in page.text and "SF42" in page.text


class TestEndToEnd:
    def test_shipment_reaches_the_customer_by_email_with_the_link(self, session, connection, now, setup):
        from backend.notify import delivery
        from backend.settings import Settings
        from tests.backend.notify.servers import SmtpServer, free_port

        smtp = SmtpServer(free_port())
        smtp.start()
        try:
            order = session.get(Order, setup["order"].id)
            tracking_service.record_shipment(session, actor=setup["rep"], order_id=order.id, version=order.version,
                                             carrier="SF Express", tracking_no="SF55", now=now)
            settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=smtp.port)
            assert delivery.deliver_outbox(connection, now, settings=settings) == 1
        finally:
            smtp.stop()
        [(rcpt, mail)] = smtp.messages
        link = session.exec(select(TrackingLink).where(TrackingLink.order_id == order.id)).scalars().one()
        assert rcpt == [setup["customer"].email] and mail["Subject"] == "Order TRK-1: Shipped"
        html = mail.get_body(("html",)).get_content()
        assert f"/t/{link.token}" in html and "SF55" in html and "Unsubscribe" in html
