"""Urges and customer messages give the order's owner a to-do (issue 17), on SQLite and PostgreSQL:
one open to-do per order and kind with repeats counted on it, a new one once it was handled, a
reply handles the message to-do, and the nav badge counts open to-dos plus unread notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend import i18n
from backend.auth.service import load_actor
from backend.inbox import service as inbox_service
from backend.inbox import service_action as inbox_actions
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxFilter
from backend.notify import service as notify_service
from backend.tracking import messages as customer_messages
from backend.tracking import service as tracking_service
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


@pytest.fixture
def setup(session, now):
    rep = make_user(session, roles=["sales"], display_name="Rep Hu", locale="en")
    customer = make_customer(session, name="Omega Gears", preferred_locale="en", email="buyer@omega.example")
    order = make_order(session, owner=rep, customer=customer, stage="production", number="CTD-1")
    other = make_order(session, owner=rep, customer=customer, stage="production", number="CTD-2")
    session.commit()
    actor = load_actor(session, rep.id)
    link = tracking_service.create_link(session, actor=actor, order_id=order.id, now=now)
    link2 = tracking_service.create_link(session, actor=actor, order_id=other.id, now=now)
    return {"rep": rep, "actor": actor, "order": order, "other": other, "token": link.token, "token2": link2.token}


def _todos(session, user_id, kind=None):
    query = select(InboxItem).where(InboxItem.assignee_id == user_id).order_by(InboxItem.id)
    if kind:
        query = query.where(InboxItem.kind == kind)
    return session.exec(query).scalars().all()


class TestUrgeTodo:
    def test_repeated_urges_are_counted_on_one_open_todo_per_order(self, session, now, setup):
        for hours in (0, 2, 4):
            tracking_service.urge(session, token=setup["token"], now=now + timedelta(hours=hours))
        tracking_service.urge(session, token=setup["token2"], now=now)
        session.expire_all()
        todos = _todos(session, setup["rep"].id, "customer_urge")
        assert [(t.order_id, t.state, t.payload["count"]) for t in todos] == [
            (setup["order"].id, "open", 3), (setup["other"].id, "open", 1)]
        assert todos[0].priority == "high" and todos[1].priority == "normal"
        token = i18n.set_locale("en")  # the reader's language (the default is Chinese)
        try:
            read = inbox_service.list_items(session, actor=setup["actor"],
                                            filters=InboxFilter(kind="customer_urge"), now=now)
        finally:
            i18n.reset_locale(token)
        assert [(i.title, i.times) for i in read.items][0] == ("The customer is urging order CTD-1", 3)
        assert todos[0].title_i18n["zh-CN"] == "客户在催订单 CTD-1"

    def test_after_the_owner_handled_it_the_next_urge_opens_a_new_todo(self, session, now, setup):
        tracking_service.urge(session, token=setup["token"], now=now)
        [todo] = _todos(session, setup["rep"].id, "customer_urge")
        inbox_actions.complete_task(session, actor=setup["actor"], item_id=todo.id, values={}, note="", now=now)
        tracking_service.urge(session, token=setup["token"], now=now + timedelta(hours=2))
        session.expire_all()
        todos = _todos(session, setup["rep"].id, "customer_urge")
        assert [(t.state, t.payload["count"]) for t in todos] == [("done", 1), ("open", 1)]


class TestMessageTodo:
    def test_messages_gather_on_one_todo_and_a_reply_handles_it(self, session, now, setup):
        customer_messages.send_from_tracking(session, token=setup["token"], text="Ship on Friday?", contact=None,
                                             now=now)
        customer_messages.send_from_tracking(session, token=setup["token"], text="And the invoice?", contact="Ann",
                                             now=now + timedelta(minutes=5))
        session.expire_all()
        [todo] = _todos(session, setup["rep"].id, "customer_message")
        assert (todo.state, todo.payload["count"], todo.body) == ("open", 2, "Ann: And the invoice?")
        assert todo.title_i18n == {"zh-CN": "客户就订单 CTD-1 留言", "en": "The customer wrote about order CTD-1"}
        customer_messages.reply(session, actor=setup["actor"], order_id=setup["order"].id, text="Yes, Friday.",
                                now=now + timedelta(minutes=10))
        session.expire_all()
        [todo] = _todos(session, setup["rep"].id, "customer_message")
        assert (todo.state, todo.outcome, todo.closed_by_id) == ("done", "replied", setup["rep"].id)


class TestBadge:
    def test_badge_counts_open_todos_and_unread_notifications(self, session, client, now, setup):
        tracking_service.urge(session, token=setup["token"], now=now)  # 1 to-do + 1 notification
        customer_messages.send_from_tracking(session, token=setup["token"], text="Hello", contact=None, now=now)
        assert inbox_service.count_open(session, setup["rep"].id) == 2
        assert notify_service.count_unread(session, setup["rep"].id) == 2
        login(client, setup["rep"].username)
        html = client.get("/inbox/badge?part=count").text
        assert ">4</span>" in html and 'data-todos="2"' in html and 'data-unread="2"' in html
        page = client.get("/orders").text  # every page carries the bell
        assert 'id="nav-bell"' in page and 'hx-get="/inbox/badge"' in page
        notify_service.mark_read(session, actor=setup["actor"], notification_id=None, now=now)
        assert ">2</span>" in client.get("/inbox/badge?part=count").text
