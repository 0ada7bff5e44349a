"""The one-pass scan (backend/rules/scan.py) on SQLite and PostgreSQL: only changed orders come
back, episodes end and restart, rules are re-baselined after enable / republish, every-N-hours,
quiet hours, more rules than one word holds, chunk boundaries, scopes by customer tier and flow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.flows.models import FlowDefinitionRow, FlowInstance
from backend.rules import context, definitions, matching, scan, tasks
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderMask
from engine.rules.words import format_words, parse_words
from tests.backend.rules.test_service import approval_timeout, todos, waiting_order
from tests.backend.rules.test_service import publish_and_enable as _publish_and_enable
from tests.factories.orders import make_customer, make_order


def publish_and_enable(session, actor, definition, now):
    return _publish_and_enable(session, actor, definition, now, confirm=True)  # tiny data: every order matches


def firings(session, order=None, key=None):
    stmt = select(RuleFiring.episode).order_by(RuleFiring.id)
    if order is not None:
        stmt = stmt.where(RuleFiring.order_id == order.id)
    if key is not None:
        stmt = stmt.where(RuleFiring.rule_key == key)
    return session.exec(stmt).scalars().all()


def changed_now(session, now):
    """What the next scan's one query would return (nothing is changed)."""
    rows = scan.assign_slots(session)
    plan = scan.build_plan(rows, context.catalogue_for(session), context.fact_context(now))
    return scan.changed_orders(session, plan)


def flagging(key, condition, **overrides):
    """A time rule whose only action is a risk flag (cheap to fire many of)."""
    rule = {"key": key, "name": {"en": key}, "trigger": {"kind": "time"}, "condition": condition,
            "actions": [{"type": "add_risk_flag", "flag": key}], "firing": {"mode": "once_per_episode"}}
    rule.update(overrides)
    return rule


class TestChangedOrders:
    def test_steady_state_returns_no_orders(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 2)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert [o for o, _, _ in changed_now(session, now)] == [late.id]  # a fresh rule: its matches
        session.rollback()
        assert tasks.scan_time_rules(connection, now) == 1
        assert changed_now(session, now + timedelta(minutes=1)) == []
        session.rollback()
        # an hour later nothing new has crossed 24 h; 23 hours later the second order has
        assert changed_now(session, now + timedelta(hours=1)) == []
        session.rollback()
        assert len(changed_now(session, now + timedelta(hours=23))) == 1

    def test_words_are_stored_only_for_matching_orders(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 2)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        tasks.scan_time_rules(connection, now)
        masks = session.exec(select(RuleOrderMask)).scalars().all()
        assert [(m.order_id, m.words) for m in masks] == [(late.id, "1")]


class TestEpisodes:
    def test_closing_an_order_ends_the_episode_and_reopening_starts_one(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        late.status = "completed"
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        assert session.exec(select(func.count()).select_from(RuleOrderMask)).scalar_one() == 0
        late.status = "open"
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2)) == 1
        assert firings(session, late) == [1, 2]

    def test_reenabled_rule_refires_for_an_order_that_stopped_matching_while_disabled(self, session, connection,
                                                                                      org, now):
        late = waiting_order(session, org, now, 30)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        definitions.disable_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        late.stage, late.stage_entered_at = "production", now  # the episode ends while nobody watches
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", confirm=True, now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2)) == 0
        late.stage, late.stage_entered_at = "approval", now + timedelta(minutes=3)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(hours=25)) == 1
        assert firings(session, late) == [1, 2]

    def test_reenabled_rule_does_not_refire_while_the_episode_lasts(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        definitions.disable_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        definitions.enable_rule(session, actor=org["admin"], key="approval_timeout", confirm=True, now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        assert firings(session, late) == [1]

    def test_a_new_version_continues_the_episodes(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        other = waiting_order(session, org, now, 20)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        lower = approval_timeout(condition={"and": [{"==": [{"var": "stage"}, "approval"]},
                                                    {">": [{"var": "hours_in_stage"}, 12]}]})
        definitions.save_draft(session, actor=org["admin"], definition=lower, now=now)
        definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now,
                             confirm=True)  # tiny data: every order matches, as when enabling
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 1  # only the order at 20 h
        assert firings(session, late) == [1] and firings(session, other) == [1]
        versions = session.exec(select(RuleFiring.rule_version).order_by(RuleFiring.id)).scalars().all()
        assert versions == [1, 2]


class TestPolicies:
    def test_every_n_hours_fires_again_while_true_and_stops_when_false(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        publish_and_enable(session, org["admin"], approval_timeout(firing={"mode": "every_n_hours", "every_hours": 4}),
                           now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        assert tasks.scan_time_rules(connection, now + timedelta(hours=1)) == 0
        assert tasks.scan_time_rules(connection, now + timedelta(hours=4)) == 1
        assert tasks.scan_time_rules(connection, now + timedelta(hours=4, minutes=1)) == 0
        late.stage = "production"
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(hours=9)) == 0
        assert firings(session, late) == [1, 2]

    def test_quiet_hours_wait_for_working_time(self, session, connection, org, now):
        night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
        late = waiting_order(session, org, night, 30)
        publish_and_enable(session, org["admin"], approval_timeout(firing={"mode": "once_per_episode",
                                                                           "quiet_hours": True}), night)
        session.commit()
        assert tasks.scan_time_rules(connection, night) == 0
        assert tasks.scan_time_rules(connection, night + timedelta(hours=3)) == 0
        morning = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
        assert tasks.scan_time_rules(connection, morning) == 1
        assert tasks.scan_time_rules(connection, morning + timedelta(minutes=1)) == 0
        assert firings(session, late) == [1]

    def test_a_rule_is_acted_on_only_when_its_interval_has_passed(self, session, connection, org, now):
        publish_and_enable(session, org["admin"], approval_timeout(trigger={"kind": "time", "every_minutes": 10}), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 0
        late = waiting_order(session, org, now, 30)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=5)) == 0
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=10)) == 1
        assert firings(session, late) == [1]


class TestManyRules:
    def test_more_rules_than_one_word_holds_and_a_freed_slot_is_reused(self, session, connection, org, now):
        orders = [make_order(session, owner=org["rep"], stage="production", amount=1000 * (i + 1),
                             at=now - timedelta(days=1)) for i in range(4)]
        for i in range(70):  # rule i matches the orders with amount > 5 * i
            publish_and_enable(session, org["admin"], flagging(f"r{i}", {">": [{"var": "amount"}, 5 * i]}), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 4 * 70
        slots = session.exec(select(RuleDefinitionRow.scan_slot).where(RuleDefinitionRow.enabled.is_(True))).all()
        assert sorted(s for (s,) in slots) == list(range(70))
        assert changed_now(session, now + timedelta(minutes=1)) == []
        session.rollback()
        # a cheaper first order: rules 20..69 stop matching it (99 > 5 i only for i < 20)
        orders[0].amount = 99
        definitions.disable_rule(session, actor=org["admin"], key="r3", now=now)
        publish_and_enable(session, org["admin"], flagging("late_comer", {"<": [{"var": "amount"}, 150]}), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 1  # late_comer on orders[0]
        reused = session.exec(select(RuleDefinitionRow.scan_slot).where(RuleDefinitionRow.key == "late_comer",
                                                                        RuleDefinitionRow.enabled.is_(True))).one()
        assert reused == (3,)
        assert changed_now(session, now + timedelta(minutes=2)) == []
        session.rollback()
        orders[0].amount = 400
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2)) == 50  # r20..r69 start again
        assert firings(session, orders[0], key="r69") == [1, 2]

    def test_chunk_boundaries_fire_each_order_once(self, session, connection, org, now, monkeypatch):
        monkeypatch.setattr(tasks, "CHUNK", 7)
        late = [waiting_order(session, org, now, 30 + i) for i in range(20)]
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 20
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        assert [len(todos(session, o)) for o in late] == [2] * 20


class TestScope:
    def test_customer_tiers_limit_scan_dry_run_and_event_path(self, session, connection, org, now):
        key = make_customer(session, tier="key")
        small = make_customer(session, tier="small")
        vip = waiting_order(session, org, now, 30)
        vip.customer_id = key.id
        plain = waiting_order(session, org, now, 30)
        plain.customer_id = small.id
        rule = approval_timeout(scope={"customer_tiers": ["key"]})
        publish_and_enable(session, org["admin"], rule, now)
        session.commit()
        dry = matching.dry_run(session, actor=org["admin"], definition=rule, now=now)
        assert [m.order_id for m in dry.orders] == [vip.id]
        assert tasks.scan_time_rules(connection, now) == 1
        assert firings(session, vip) == [1] and firings(session, plain) == []
        assert matching.in_scope(session, context.parse(rule), vip)
        assert not matching.in_scope(session, context.parse(rule), plain)

    def test_flow_keys_limit_the_scan(self, session, connection, org, now):
        in_flow = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 30)
        flow = FlowDefinitionRow(key="b2b", version=1, status="published", created_at=now, updated_at=now)
        session.add(flow)
        session.flush()
        session.add(FlowInstance(order_id=in_flow.id, definition_id=flow.id, flow_key="b2b", flow_version=1,
                                 status="running", created_at=now, updated_at=now))
        publish_and_enable(session, org["admin"], approval_timeout(scope={"flow_keys": ["b2b"]}), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        assert firings(session, in_flow) == [1]


@pytest.mark.parametrize("words", ["", "0", "5,0", "1,2,3"])
def test_words_round_trip(words):
    parsed = parse_words(words, 3)
    assert len(parsed) == 3
    assert parse_words(format_words(parsed), 3) == parsed
