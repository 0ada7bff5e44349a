"""Rule services on SQLite and PostgreSQL: publish, enable, dry run, scan, event path, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.notify.models import Notification
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.rules import context, definitions, history, matching, tasks
from backend.rules import firing as rule_firing
from backend.rules.models import RuleDefinitionRow, RuleFiring
from tests.factories.orders import make_order


def actor_of(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("sales",)), department_id=user.department_id)


def approval_timeout(**overrides):
    rule = {
        "key": "approval_timeout",
        "name": {"zh": "审批超时", "en": "Approval time-out"},
        "trigger": {"kind": "time"},
        "condition": {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
        "actions": [{
            "type": "create_todo", "assignee": {"kind": "current_approver"},
            "cc": [{"kind": "current_approver_manager"}], "priority": "high",
            "title_template": "Approve {{ order.number }} ({{ order.hours_in_stage | round | int }} h)",
        }],
        "firing": {"mode": "once_per_episode"},
    }
    rule.update(overrides)
    return rule


def waiting_order(session, org, now, hours, stage="approval"):
    order = make_order(session, owner=org["rep"], stage=stage, at=now - timedelta(hours=hours))
    session.add(InboxItem(dedupe_key=f"flow:approval:{order.id}", order_id=order.id, assignee_id=org["approver"].id,
                          kind="approval", title="Approve", created_at=now))
    session.flush()
    return order


def publish_and_enable(session, actor, definition, now, confirm=False):
    definitions.save_draft(session, actor=actor, definition=definition, now=now)
    definitions.publish_rule(session, actor=actor, key=definition["key"], now=now)
    return definitions.enable_rule(session, actor=actor, key=definition["key"], confirm=confirm, now=now)


def todos(session, order):
    return session.exec(select(InboxItem).where(InboxItem.order_id == order.id, InboxItem.source == "rule")
                        .order_by(InboxItem.id)).scalars().all()


class TestPublishAndEnable:
    def test_invalid_rule_is_refused_with_paths_and_nothing_published(self, session, org, now):
        bad = approval_timeout(condition={"==": [{"var": "stagee"}, "x"]})
        definitions.save_draft(session, actor=org["admin"], definition=bad, now=now)
        with pytest.raises(GendanError) as caught:
            definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        assert caught.value.code == "rule.definition_invalid"
        assert caught.value.fields["condition.==.0.var"][0] == "logic.unknown_field"
        assert definitions.get_rule(session, actor=org["admin"], key="approval_timeout").status == "draft"

    def test_schema_errors_are_422_with_paths(self, session, org, now):
        with pytest.raises(GendanError) as caught:
            definitions.save_draft(session, actor=org["admin"], definition={"key": "Bad Key"}, now=now)
        assert caught.value.code == "rule.definition_invalid"
        assert "key" in caught.value.fields

    def test_matching_every_order_needs_confirmation(self, session, org, now):
        waiting_order(session, org, now, 1)
        always = approval_timeout(key="always", condition={">=": [{"var": "amount"}, -1]})
        definitions.save_draft(session, actor=org["admin"], definition=always, now=now)
        definitions.publish_rule(session, actor=org["admin"], key="always", now=now)
        with pytest.raises(GendanError) as caught:
            definitions.enable_rule(session, actor=org["admin"], key="always", now=now)
        assert caught.value.code == "rule.confirm_required"
        assert not session.exec(select(RuleDefinitionRow.enabled).where(RuleDefinitionRow.key == "always")).scalar()
        assert definitions.enable_rule(session, actor=org["admin"], key="always", confirm=True, now=now).enabled

    def test_only_admins_and_designers(self, session, org, now):
        with pytest.raises(GendanError) as caught:
            definitions.save_draft(session, actor=actor_of(org["rep"]), definition=approval_timeout(), now=now)
        assert caught.value.code == "auth.forbidden"

    def test_republish_keeps_enabled_and_retires_old_version(self, session, org, now):
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        definitions.save_draft(session, actor=org["admin"], definition=approval_timeout(name={"en": "v2"}), now=now)
        read = definitions.publish_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        assert (read.version, read.enabled) == (2, True)
        statuses = session.exec(select(RuleDefinitionRow.status).where(RuleDefinitionRow.key == "approval_timeout")
                                .order_by(RuleDefinitionRow.version)).scalars().all()
        assert statuses == ["retired", "published"]


class TestDryRun:
    def test_lists_matching_orders_and_what_would_happen(self, session, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 2)
        result = matching.dry_run(session, actor=org["admin"], definition=approval_timeout(), now=now)
        assert result.compiled_to_sql and result.count == 1
        (match,) = result.orders
        assert match.order_id == late.id
        (todo,) = match.actions
        assert todo["assignee_ids"] == [org["approver"].id] and todo["cc_user_ids"] == [org["boss"].id]
        assert todo["title"] == f"Approve {late.number} (30 h)"
        assert session.exec(select(func.count()).select_from(RuleFiring)).scalar_one() == 0

    def test_event_only_condition_is_dry_run_in_python(self, session, org, now):
        waiting_order(session, org, now, 30)
        definition = approval_timeout(trigger={"kind": "event", "events": ["field_changed"]},
                                      condition={"==": [{"%": [{"var": "urge_count"}, 2]}, 0]})
        result = matching.dry_run(session, actor=org["admin"], definition=definition, now=now)
        assert not result.compiled_to_sql and result.count >= 1
        assert [w.code for w in result.warnings] == ["rule.event_only"]


class TestScan:
    def test_fires_once_per_episode_with_todo_and_cc(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        fresh = waiting_order(session, org, now, 2)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        (todo, cc) = todos(session, late)
        assert (todo.assignee_id, todo.priority, todo.kind) == (org["approver"].id, "high", "rule_alert")
        assert (cc.assignee_id, cc.kind) == (org["boss"].id, "cc")
        assert todos(session, fresh) == []
        # the next scans: still true, same episode, nothing new
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2)) == 0
        assert len(todos(session, late)) == 2

    def test_new_episode_after_condition_was_false(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 1)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        late.stage, late.stage_entered_at = "production", now
        session.commit()
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1)) == 0
        late.stage, late.stage_entered_at = "approval", now + timedelta(minutes=1)
        session.commit()
        later = now + timedelta(hours=26)
        assert tasks.scan_time_rules(connection, later) == 2  # and the other order, now 27 h in approval
        episodes = session.exec(select(RuleFiring.episode).where(RuleFiring.order_id == late.id)
                                .order_by(RuleFiring.episode)).scalars().all()
        assert episodes == [1, 2]

    def test_a_rolled_back_scan_leaves_nothing_and_the_rerun_fires(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 1)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        nested = connection.begin_nested()  # stands for the scan's transactions, killed before commit
        assert tasks.scan_time_rules(connection, now) == 1
        nested.rollback()
        session.expire_all()
        assert todos(session, late) == []
        assert tasks.scan_time_rules(connection, now) == 1
        assert len(todos(session, late)) == 2

    def test_recording_the_same_firing_twice_stores_it_once(self, session, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 1)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        row = session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.status == "published")).scalars().one()
        from engine.rules.definition import load_rule
        from engine.rules.firing import decide_firing

        rule = load_rule(row.definition)
        decision = decide_firing(rule.firing, None, True, now)
        kwargs = dict(row=row, rule=rule, order=late, state_row=None, decision=decision, trigger="scan",
                      catalogue=context.catalogue_for(session), ctx=context.fact_context(now))
        assert rule_firing.fire(session, **kwargs) is not None
        assert rule_firing.fire(session, **kwargs) is None
        assert session.exec(select(func.count()).select_from(RuleFiring)).scalar_one() == 1
        assert len(todos(session, late)) == 2

    def test_history_shows_firings_and_todo_state(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 1)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        session.commit()
        tasks.scan_time_rules(connection, now)
        (firing,) = history.list_firings(session, actor=org["admin"], key="approval_timeout")
        assert (firing.order_id, firing.order_number, firing.episode, firing.trigger) == (late.id, late.number, 1, "scan")
        assert firing.effects[0]["type"] == "CreateTodo" and firing.todo_states == ["open"]

    def test_history_shows_outbox_delivery_state(self, session, connection, org, now):
        late = waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 1)
        webhook = approval_timeout(actions=[{"type": "call_webhook", "url": "https://hooks.example.test/x"}])
        publish_and_enable(session, org["admin"], webhook, now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 1
        (firing,) = history.list_firings(session, actor=org["admin"], key="approval_timeout")
        assert firing.order_id == late.id and firing.delivery_states == ["pending"]

    def test_disabled_rule_does_not_scan(self, session, connection, org, now):
        waiting_order(session, org, now, 30)
        waiting_order(session, org, now, 1)
        publish_and_enable(session, org["admin"], approval_timeout(), now)
        definitions.disable_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        session.commit()
        assert tasks.scan_time_rules(connection, now) == 0


class TestEventPath:
    def test_field_change_fires_event_rule(self, session, org, now):
        order = make_order(session, owner=org["rep"], stage="production", at=now - timedelta(days=1))
        definition = {
            "key": "big_order", "name": {"en": "Big order"},
            "trigger": {"kind": "event", "events": ["field_changed"], "fields": ["amount"]},
            "condition": {">=": [{"var": "amount"}, 100000]},
            "actions": [{"type": "notify", "recipients": [{"kind": "owner"}],
                         "title_template": "{{ order.number }} is now {{ order.amount }}"},
                        {"type": "add_tag", "tag": "big"}],
        }
        publish_and_enable(session, org["admin"], definition, now)
        rep = actor_of(org["rep"])
        session.commit()
        orders_service.update_order(session, actor=rep, order_id=order.id,
                                    payload=OrderUpdate(version=order.version, currency="USD"), now=now)
        assert session.exec(select(func.count()).select_from(RuleFiring)).scalar_one() == 0
        order = session.get(Order, order.id)
        orders_service.update_order(session, actor=rep, order_id=order.id,
                                    payload=OrderUpdate(version=order.version, amount="250000"), now=now)
        note = session.exec(select(Notification).where(Notification.user_id == org["rep"].id)).scalars().one()
        assert note.title == f"{order.number} is now 250000"
        assert "big" in session.get(Order, order.id).tags


    def test_every_time_rule_fires_on_each_event(self, session, org, now):
        order = make_order(session, owner=org["rep"], stage="production", at=now - timedelta(days=1))
        definition = {
            "key": "each_message", "name": {"en": "Each message"},
            "trigger": {"kind": "event", "events": ["inbound_message"]}, "condition": True,
            "actions": [{"type": "create_todo", "assignee": {"kind": "owner"},
                         "title_template": "Answer the customer of {{ order.number }}"}],
            "firing": {"mode": "every_time"},
        }
        publish_and_enable(session, org["admin"], definition, now, confirm=True)
        for minute in range(3):
            rule_firing.evaluate_event_rules(session, order, changes={}, actor=None, now=now + timedelta(minutes=minute),
                                         is_new=False, events=[("inbound_message", None)])
        episodes = session.exec(select(RuleFiring.episode).where(RuleFiring.order_id == order.id)
                                .order_by(RuleFiring.episode)).scalars().all()
        assert episodes == [1, 2, 3]
        assert len(todos(session, order)) == 3


class TestCatalogue:
    def test_designed_fields_come_from_published_forms(self, session, org, now):
        from backend.forms.models import FormDefinitionRow

        session.add(FormDefinitionRow(key="rules_form", version=1, status="published", created_at=now, updated_at=now,
                                      definition={"key": "rules_form", "fields": [
                                          {"key": "incoterm", "type": "single_select", "label": {"en": "Incoterm"},
                                           "options": [{"value": "FOB"}, {"value": "CIF"}]},
                                          {"key": "weight", "type": "money"},
                                          {"key": "photos", "type": "attachment"},
                                      ]}))
        session.flush()
        catalogue = context.catalogue_for(session)
        assert catalogue["data.incoterm"].options == ("FOB", "CIF")
        assert catalogue["data.incoterm"].label_en == "Incoterm"
        assert str(catalogue["data.weight"].type) == "number"
        assert "data.photos" not in catalogue
        issues = definitions.validate_definition(session, actor=org["admin"], definition=approval_timeout(
            condition={">": [{"var": "data.weight"}, 10]}))
        assert issues == []


class TestOverdueTodos:
    def test_overdue_todo_triggers_event_rule_once_per_episode(self, session, connection, org, now):
        late = waiting_order(session, org, now, 2)
        other = waiting_order(session, org, now, 2)
        item = session.exec(select(InboxItem).where(InboxItem.order_id == late.id)).scalars().one()
        item.due_at = now - timedelta(hours=1)
        definition = approval_timeout(
            key="overdue_escalation", trigger={"kind": "event", "events": ["todo_overdue"]},
            condition={"==": [{"var": "stage"}, "approval"]},
            actions=[{"type": "escalate", "title_template": "Overdue: {{ order.number }}"}],
        )
        publish_and_enable(session, org["admin"], definition, now, confirm=True)
        session.commit()
        assert tasks.signal_overdue_todos(connection, now) == 1
        assert tasks.signal_overdue_todos(connection, now + timedelta(minutes=1)) == 1
        firings = session.exec(select(RuleFiring.order_id, RuleFiring.trigger)).all()
        assert firings == [(late.id, "todo_overdue")]
        assert todos(session, other) == []
