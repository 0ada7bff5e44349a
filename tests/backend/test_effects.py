"""apply_effects: engine effects become rows exactly once, inside the caller's transaction."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from backend.effects import apply_effects
from backend.inbox.models import InboxItem
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import OrderEvent
from engine import effects as fx
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def _count(session, model, *where):
    return session.exec(select(func.count()).select_from(model).where(*where)).scalar_one()


class TestTodosAndNotifications:
    def test_same_todo_applied_twice_is_stored_once_per_assignee(self, session, now):
        a, b, boss = make_user(session), make_user(session), make_user(session)
        order = make_order(session, owner=a)
        todo = fx.CreateTodo(dedupe_key="rule:1:order:1:ep:1", kind="reminder", title="Chase approval",
                             assignee_ids=(a.id, b.id, a.id), cc_user_ids=(boss.id,), priority="high")
        first = apply_effects(session, [todo], order=order, actor=None, now=now, source="rule")
        again = apply_effects(session, [todo], order=order, actor=None, now=now, source="rule")
        assert len(first) == 3 and again == []
        rows = session.exec(select(InboxItem).where(InboxItem.order_id == order.id)).scalars().all()
        assert sorted((r.assignee_id, r.kind) for r in rows) == sorted(
            [(a.id, "reminder"), (b.id, "reminder"), (boss.id, "cc")])
        assert {r.priority for r in rows} == {"high"} and {r.source for r in rows} == {"rule"}

    def test_close_todo_closes_only_open_items_of_that_key(self, session, now):
        a = make_user(session)
        order = make_order(session, owner=a)
        apply_effects(session, [fx.CreateTodo(dedupe_key="k1", kind="task", title="t", assignee_ids=(a.id,)),
                                fx.CreateTodo(dedupe_key="k2", kind="task", title="t", assignee_ids=(a.id,))],
                      order=order, actor=None, now=now)
        apply_effects(session, [fx.CloseTodo(dedupe_key="c1", todo_dedupe_key="k1", outcome="done")],
                      order=order, actor=None, now=now)
        states = dict(session.exec(select(InboxItem.dedupe_key, InboxItem.state)).all())
        assert states == {"k1": "done", "k2": "open"}

    def test_notify_is_stored_once(self, session, now):
        a = make_user(session)
        note = fx.Notify(dedupe_key="n1", user_ids=(a.id,), title="Order late")
        apply_effects(session, [note, note], order=None, actor=None, now=now)
        assert _count(session, Notification, Notification.user_id == a.id) == 1


class TestCustomerMessages:
    def test_goes_to_outbox_by_preferred_channel_once(self, session, now):
        rep = make_user(session)
        customer = make_customer(session, email="buyer@example.com", preferred_channel="email")
        order = make_order(session, owner=rep, customer=customer)
        msg = fx.MessageCustomer(dedupe_key="m1", subject="Shipped", body="On its way")
        apply_effects(session, [msg], order=order, actor=None, now=now)
        apply_effects(session, [msg], order=order, actor=None, now=now)
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.order_id == order.id)).scalars().all()
        assert [(r.channel, r.recipient, r.state) for r in rows] == [("email", "buyer@example.com", "pending")]

    def test_unsubscribed_customer_gets_nothing(self, session, now):
        rep = make_user(session)
        order = make_order(session, owner=rep, customer=make_customer(session, is_unsubscribed=True))
        apply_effects(session, [fx.MessageCustomer(dedupe_key="m2", subject="s", body="b")],
                      order=order, actor=None, now=now)
        assert _count(session, OutboxMessage, OutboxMessage.order_id == order.id) == 0


class TestOrderChanges:
    def test_field_tag_flag_stage_and_event_are_logged(self, session, now):
        rep = make_user(session)
        order = make_order(session, owner=rep, stage="production")
        apply_effects(session, [
            fx.SetField(dedupe_key="s1", field="data.tracking_no", value="SF123"),
            fx.SetField(dedupe_key="s2", field="planned_delivery", value="2026-12-01"),
            fx.AddTag(dedupe_key="t1", tag="vip"), fx.AddTag(dedupe_key="t2", tag="vip"),
            fx.AddRiskFlag(dedupe_key="r1", flag="delay_risk", reason="late production"),
            fx.EnterStage(dedupe_key="e1", stage="shipping"),
            fx.RecordEvent(dedupe_key="ev1", type="flow.approved", actor_id=rep.id, note="ok"),
        ], order=order, actor=None, now=now)
        assert order.data["tracking_no"] == "SF123"
        assert order.planned_delivery == date(2026, 12, 1)
        assert order.tags == ["vip"] and order.risk_flags == ["delay_risk"]
        assert order.stage == "shipping" and order.stage_entered_at == now
        types = session.exec(select(OrderEvent.type).where(OrderEvent.order_id == order.id)
                             .order_by(OrderEvent.id)).scalars().all()
        # the order's own changes come after the batch's other effects, each through the pipeline
        assert types == ["flow.approved", "field_set", "field_set", "tag_added", "risk_flagged", "stage_entered"]
        assert order.version == 6

    def test_unknown_core_field_is_refused(self, session, now):
        order = make_order(session, owner=make_user(session))
        with pytest.raises(ValueError):
            apply_effects(session, [fx.SetField(dedupe_key="x", field="number", value="HACK")],
                          order=order, actor=None, now=now)
