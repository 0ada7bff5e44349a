"""A reply's delivery as the order page shows it (issue 17: "sent to the customer by email" while it
was only queued), on SQLite and PostgreSQL with a real SMTP server: queued, retrying with the
reason, sent; a permanent failure says why; no address means no delivery at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.auth.service import load_actor
from backend.notify import delivery
from backend.settings import Settings
from backend.tracking import messages as customer_messages
from tests.backend.notify.servers import SmtpServer, free_port
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    yield server
    server.stop()


@pytest.fixture
def setup(session):
    rep = make_user(session, roles=["sales"], display_name="Rep Fan", locale="en")
    customer = make_customer(session, name="Kappa Tools", preferred_locale="en", email="buyer@kappa.example")
    order = make_order(session, owner=rep, customer=customer, number="DLV-1")
    session.commit()
    return {"rep": rep, "actor": load_actor(session, rep.id), "order": order, "customer": customer}


def _settings(port: int) -> Settings:
    return Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=port, smtp_from="gendan@example.com")


def _reply_state(session, order_id):
    session.expire_all()
    [reply] = [m for m in customer_messages.list_messages(session, order_id) if not m.is_from_customer]
    return reply


class TestReplyDelivery:
    def test_queued_then_retrying_with_the_reason_then_sent(self, session, connection, now, setup, smtp):
        customer_messages.reply(session, actor=setup["actor"], order_id=setup["order"].id, text="Friday.", now=now)
        reply = _reply_state(session, setup["order"].id)
        assert (reply.via, reply.delivery, reply.delivery_error) == ("email", "queued", None)

        delivery.deliver_outbox(connection, now, settings=_settings(smtp.port))  # the server is down
        reply = _reply_state(session, setup["order"].id)
        assert reply.delivery == "retrying" and reply.delivery_error

        smtp.start()
        later = now + timedelta(minutes=1)
        assert delivery.deliver_outbox(connection, later, settings=_settings(smtp.port)) == 1
        reply = _reply_state(session, setup["order"].id)
        assert (reply.delivery, reply.delivered_at, reply.delivery_error) == ("sent", later, None)
        assert [m[0] for m in smtp.messages] == [["buyer@kappa.example"]]

    def test_a_bad_address_is_failed_with_the_reason_in_words(self, session, client, now, setup):
        setup["customer"].email = "not-an-address"
        session.commit()
        customer_messages.reply(session, actor=setup["actor"], order_id=setup["order"].id, text="Hi.", now=now)
        delivery.deliver_outbox(session.connection(), now, settings=_settings(free_port()))
        reply = _reply_state(session, setup["order"].id)
        assert reply.delivery == "failed"
        login(client, setup["rep"].username)
        html = client.get(f"/orders/{setup['order'].id}/messages").text
        assert "Not sent: The recipient is not an e-mail address." in html
        assert "hx-trigger=\"every" not in html  # nothing on its way: the list stops re-reading

    def test_no_address_no_delivery(self, session, client, now, setup):
        setup["customer"].email = None
        session.commit()
        assert customer_messages.reply(session, actor=setup["actor"], order_id=setup["order"].id, text="Hi.",
                                       now=now) is None
        assert _reply_state(session, setup["order"].id).delivery is None
        login(client, setup["rep"].username)
        html = client.get(f"/orders/{setup['order'].id}/messages").text
        assert "Not sent: the customer reads it on the tracking page." in html

    def test_the_conversation_is_for_those_who_see_the_order(self, session, client, setup):
        make_user(session, username="dlv.other", roles=["sales"])
        session.commit()
        login(client, "dlv.other")
        assert client.get(f"/orders/{setup['order'].id}/messages").status_code == 404
