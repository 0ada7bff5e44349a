"""The event path's round trips (backend/rules/event_path.py) and bulk firing of rules that change
the order (backend/rules/bulk.py with backend/effects.py:change_orders), on SQLite and PostgreSQL.

Query-count guards: the statements an order change sends for its event rules do not grow with the
number of rules, nor (beyond a fixed few) with the number of rules that fire."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import event, func, select

from backend.inbox.models import InboxItem
from backend.notify.models import Notification
from backend.orders.models import Order, OrderEvent
from backend.rules import firing as rule_firing
from backend.rules import tasks
from backend.rules.models import RuleFiring, RuleOrderState
from tests.backend.rules.test_service import publish_and_enable
from tests.factories.orders import make_order


class Statements:
    """SQL statements sent on the session's connection while the block runs."""

    def __init__(self, session) -> None:
        self.connection = session.connection()
        self.count = 0

    def _seen(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.connection, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.connection, "before_cursor_execute", self._seen)


def event_rule(i: int, *, fires: bool) -> dict:
    return {"key": f"ev_path_{i}", "name": {"en": f"Event {i}"},
            "trigger": {"kind": "event", "events": ["field_changed"]},
            "condition": {">": [{"var": "amount"}, 0 if fires else 10 ** 9]},
            "firing": {"mode": "every_time"},
            "actions": [{"type": "create_todo", "assignee": {"kind": "owner"},
                         "title_template": "Order {{ order.number }} changed (" + str(i) + ")"},
                        {"type": "notify", "recipients": [{"kind": "owner"}],
                         "title_template": "Amount {{ order.amount }}"}]}


def evaluate(session, order, now) -> int:
    with Statements(session) as seen:
        rule_firing.evaluate_event_rules(session, order, changes={"amount": Decimal("1")}, actor=None, now=now,
                                         is_new=False)
    return seen.count


class TestRoundTrips:
    def test_twenty_listening_rules_that_do_not_fire_cost_one_query(self, session, org, now):
        order = make_order(session, owner=org["rep"], stage="production", at=now - timedelta(days=1))
        for i in range(20):
            publish_and_enable(session, org["admin"], event_rule(i, fires=False), now, confirm=True)
        session.flush()
        evaluate(session, order, now)  # the installation's calendar is read once per process
        assert evaluate(session, order, now) == 1  # rules, this order's states and the forms together
        assert session.exec(select(func.count()).select_from(RuleFiring)).scalar_one() == 0

    def test_firings_cost_the_same_statements_for_two_rules_as_for_eight(self, session, org, now):
        counts = {}
        enabled = 0
        for firing_rules in (2, 8):
            order = make_order(session, owner=org["rep"], stage="production", at=now - timedelta(days=1))
            for i in range(enabled, firing_rules):
                publish_and_enable(session, org["admin"], event_rule(i, fires=True), now, confirm=True)
            enabled = firing_rules
            session.flush()
            counts[firing_rules] = evaluate(session, order, now)
            fired = session.exec(select(func.count()).select_from(RuleFiring)
                                 .where(RuleFiring.order_id == order.id)).scalar_one()
            assert fired == firing_rules
            assert session.exec(select(func.count()).select_from(InboxItem)
                                .where(InboxItem.order_id == order.id)).scalar_one() == firing_rules
            assert session.exec(select(func.count()).select_from(Notification)
                                .where(Notification.order_id == order.id)).scalar_one() == firing_rules
            # a second change fires each again (every_time): episode 2, states upserted, not duplicated
            evaluate(session, order, now + timedelta(minutes=1))
            states = session.exec(select(RuleOrderState.episode).where(RuleOrderState.order_id == order.id)).scalars().all()
            assert sorted(states) == [2] * firing_rules
        assert counts[8] <= counts[2] <= 15, counts  # a fixed few, not a few per firing


def flagging_rule(key: str, action: dict) -> dict:
    return {"key": key, "name": {"en": key}, "trigger": {"kind": "time"},
            "condition": {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
            "actions": [action, {"type": "create_todo", "assignee": {"kind": "owner"},
                                 "title_template": "{{ order.number }} tags {{ order.tags | join(',') }}"}],
            "firing": {"mode": "once_per_episode"}}


class TestOrderChangingFiringsBatched:
    def test_two_changing_firings_on_one_order_make_one_change_and_the_second_sees_the_first(
            self, session, connection, org, now, monkeypatch):
        monkeypatch.setattr(tasks, "BULK_FIRING", True)
        orders = [make_order(session, owner=org["rep"], stage="approval", at=now - timedelta(hours=30))
                  for _ in range(3)]
        publish_and_enable(session, org["admin"], flagging_rule("a_tag", {"type": "add_tag", "tag": "slow"}), now,
                           confirm=True)
        publish_and_enable(session, org["admin"], flagging_rule("b_flag", {"type": "add_risk_flag",
                                                                           "flag": "approval_late"}), now,
                           confirm=True)
        session.commit()
        versions = {o.id: o.version for o in orders}
        assert tasks.scan_time_rules(connection, now) == 6
        session.expire_all()
        for order in orders:
            order = session.get(Order, order.id)
            assert order.tags == ["slow"] and order.risk_flags == ["approval_late"]
            assert order.version == versions[order.id] + 1  # one change through the pipeline, not two
            kinds = session.exec(select(OrderEvent.type).where(OrderEvent.order_id == order.id,
                                                               OrderEvent.type != "created")).scalars().all()
            assert kinds == ["updated"]  # one event holding both (a PATCH that set both would read the same)
            titles = sorted(session.exec(select(InboxItem.title).where(InboxItem.order_id == order.id,
                                                                       InboxItem.source == "rule")).scalars().all())
            # the rule planned second sees the tag the first one wrote
            assert titles == [f"{order.number} tags ", f"{order.number} tags slow"]
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0


class TestOneAtATimeKeepsStates:
    def test_an_owner_change_then_another_firing_on_the_same_order_fire_again_on_the_next_event(
            self, session, org, now):
        """An earlier firing that changes the owner sends the order's firings one at a time
        (`firing.fire`), which needs their existing state rows: both fire on every message."""
        order = make_order(session, owner=org["rep"], stage="production", at=now - timedelta(days=1))
        for key, action in (("a_owner", {"type": "set_field", "field": "owner_id", "value": org["approver"].id}),
                            ("b_todo", {"type": "create_todo", "assignee": {"kind": "owner"},
                                        "title_template": "Answer {{ order.number }}"})):
            publish_and_enable(session, org["admin"], {
                "key": key, "name": {"en": key}, "trigger": {"kind": "event", "events": ["inbound_message"]},
                "condition": True, "actions": [action], "firing": {"mode": "every_time"}}, now, confirm=True)
        for minute in range(3):
            rule_firing.evaluate_event_rules(session, order, changes={}, actor=None,
                                             now=now + timedelta(minutes=minute), is_new=False,
                                             events=[("inbound_message", None)])
        fired = session.exec(select(RuleFiring.rule_key, RuleFiring.episode).where(RuleFiring.order_id == order.id)
                             .order_by(RuleFiring.rule_key, RuleFiring.episode)).all()
        assert [tuple(f) for f in fired] == [("a_owner", 1), ("a_owner", 2), ("a_owner", 3),
                                             ("b_todo", 1), ("b_todo", 2), ("b_todo", 3)]
        assert session.get(Order, order.id).owner_id == org["approver"].id


class TestCompiledConditions:
    def test_a_relative_date_is_resolved_at_each_change_s_moment(self, session, org, now):
        """Conditions are compiled once (engine/rules/compiled.py); one with a relative date is
        compiled again for each moment's constants, so the same rule answers differently later."""
        order = make_order(session, owner=org["rep"], stage="production", at=now - timedelta(hours=1))
        rule = event_rule(0, fires=True) | {
            "key": "ev_path_relative",
            "condition": {"and": [{"<": [{"var": "stage_entered_at"}, {"now": [-2, "hours"]}]},
                                  {">": [{"var": "amount"}, 0]}]}}
        publish_and_enable(session, org["admin"], rule, now, confirm=True)
        session.flush()

        def fired() -> int:
            return session.exec(select(func.count()).select_from(RuleFiring)
                                .where(RuleFiring.rule_key == "ev_path_relative")).scalar_one()

        evaluate(session, order, now)
        evaluate(session, order, now + timedelta(minutes=59))
        assert fired() == 0  # in the stage for 1 h, then 1 h 59 min: not yet 2 h
        evaluate(session, order, now + timedelta(hours=1, minutes=1))
        assert fired() == 1
        evaluate(session, order, now)  # an earlier moment again: its own constants, not the last ones
        assert fired() == 1
