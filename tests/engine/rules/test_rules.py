"""RuleDefinition, validation, firing policy, actions -> effects, templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from engine import effects as fx
from engine.calendar import BusinessCalendar
from engine.facts import FactContext, build_facts, default_catalogue
from engine.rules.actions import People, firing_key, plan_actions
from engine.rules.definition import FiringPolicy, RuleDefinition, load_rule
from engine.rules.firing import FiringState, decide_firing, is_quiet
from engine.rules.templates import TemplateProblem, render_template
from engine.rules.validate import compile_check, matches_every_order, validate, warnings_before_enable

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Thursday 11:00 Shanghai
CATALOGUE = default_catalogue().with_designed([("incoterm", "string"), ("weight", "number")])

APPROVAL_TIMEOUT = {
    "key": "approval_timeout",
    "name": {"zh": "审批超时", "en": "Approval time-out"},
    "trigger": {"kind": "time"},
    "condition": {
        "and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "working_hours_in_stage"}, 24]}]
    },
    "actions": [
        {
            "type": "create_todo",
            "assignee": {"kind": "current_approver"},
            "cc": [{"kind": "current_approver_manager"}],
            "priority": "high",
            "due_in_hours": 4,
            "title_template": "Approve {{ order.number }}: waiting {{ order.working_hours_in_stage | round(1) }} h",
            "body_template": "Amount {{ order.amount }} {{ order.currency }}",
        },
        {"type": "add_risk_flag", "flag": "approval_late", "reason_template": "{{ order.stage }}"},
        {"type": "notify", "recipients": [{"kind": "owner"}], "title_template": "{{ order.number }} is late"},
    ],
    "firing": {"mode": "once_per_episode"},
}


def rule(**overrides) -> RuleDefinition:
    return load_rule({**APPROVAL_TIMEOUT, **overrides})


def codes(issues):
    return [(i.path, i.code) for i in issues]


class TestDefinition:
    def test_round_trips_through_json(self):
        original = rule()
        again = load_rule(json.loads(json.dumps(original.model_dump(mode="json"))))
        assert again == original
        assert again.is_time_rule

    def test_frozen(self):
        with pytest.raises(ValidationError):
            rule().key = "other"  # type: ignore[misc]

    def test_unknown_action_type_rejected(self):
        with pytest.raises(ValidationError):
            rule(actions=[{"type": "launch_rocket"}])

    def test_newer_schema_refused(self):
        with pytest.raises(ValueError, match="rule.schema_too_new"):
            load_rule({**APPROVAL_TIMEOUT, "schema_version": 99})


class TestValidate:
    def test_classic_rule_is_valid(self):
        assert validate(rule(), CATALOGUE) == []

    def test_unknown_field_and_operator_have_paths(self):
        bad = rule(condition={"and": [{"==": [{"var": "stagee"}, "x"]}, {"≈": [1, 2]}]})
        assert codes(validate(bad, CATALOGUE)) == [
            ("condition.and.0.==.0.var", "logic.unknown_field"),
            ("condition.and.1.≈", "logic.unknown_operator"),
        ]

    def test_date_compared_with_text_is_rejected(self):
        bad = rule(condition={"<": [{"var": "payment_due"}, "next week"]})
        assert codes(validate(bad, CATALOGUE)) == [("condition.<", "logic.type_mismatch")]

    def test_template_naming_missing_field(self):
        actions = [dict(APPROVAL_TIMEOUT["actions"][0], body_template="{{ order.data.colour }}")]
        issues = validate(rule(actions=actions), CATALOGUE)
        assert codes(issues) == [("actions.0.body_template.en", "rule.template_unknown_name_suggest")]
        assert "colour" in issues[0].params["message"]

    def test_template_syntax_error(self):
        actions = [dict(APPROVAL_TIMEOUT["actions"][0], title_template="{{ order.number ")]
        assert codes(validate(rule(actions=actions), CATALOGUE)) == [
            ("actions.0.title_template.en", "rule.template_syntax_unclosed_print")
        ]

    def test_time_rule_must_compile_to_sql(self):
        bad = rule(condition={"some": [{"var": "tags"}, {"==": [{"var": ""}, "vip"]}]})
        issues = validate(bad, CATALOGUE)
        assert codes(issues) == [("condition", "rule.time_condition_not_compilable")]
        assert issues[0].params["reason"] == "rule.compile.unsupported_operator"

    def test_event_rule_may_use_anything_but_is_flagged_event_only(self):
        event_rule = rule(
            trigger={"kind": "event", "events": ["field_changed"]}, condition={"%": [{"var": "amount"}, 2]}
        )
        assert validate(event_rule, CATALOGUE) == []
        assert codes(warnings_before_enable(event_rule, CATALOGUE)) == [("condition", "rule.event_only")]

    def test_event_trigger_needs_events(self):
        assert ("trigger.events", "rule.trigger_without_events") in codes(
            validate(rule(trigger={"kind": "event"}), CATALOGUE)
        )

    def test_assignee_and_set_field_checks(self):
        actions = [
            {"type": "create_todo", "assignee": {"kind": "user"}, "title_template": "x"},
            {"type": "set_field", "field": "hours_in_stage", "value": 1},
            {"type": "set_field", "field": "data.weight", "value": "heavy"},
            {"type": "set_field", "field": "planned_delivery", "value": "2026-12-01"},
        ]
        assert codes(validate(rule(actions=actions), CATALOGUE)) == [
            ("actions.0.assignee.user_id", "rule.assignee_user_missing"),
            ("actions.1.field", "rule.field_not_settable"),
            ("actions.2.value", "rule.value_type_mismatch"),
        ]

    def test_every_n_hours_needs_hours_and_rule_needs_actions(self):
        issues = validate(rule(actions=[], firing={"mode": "every_n_hours"}), CATALOGUE)
        assert set(codes(issues)) == {
            ("firing.every_hours", "rule.every_hours_missing"),
            ("actions", "rule.no_actions"),
        }

    def test_every_time_is_for_event_rules_only(self):
        issues = validate(rule(firing={"mode": "every_time"}), CATALOGUE)
        assert ("firing.mode", "rule.every_time_needs_events") in codes(issues)
        event_rule = rule(firing={"mode": "every_time"}, trigger={"kind": "event", "events": ["inbound_message"]})
        assert "rule.every_time_needs_events" not in {c for _, c in codes(validate(event_rule, CATALOGUE))}

    def test_compile_check(self):
        assert compile_check(APPROVAL_TIMEOUT["condition"], CATALOGUE) is None
        assert (
            compile_check({"%": [{"var": "amount"}, 2]}, CATALOGUE).code
            == "rule.compile.unsupported_operator"
        )


class TestMatchesEveryOrder:
    @pytest.mark.parametrize(
        "condition",
        [
            True,
            {"==": [1, 1]},
            {">=": [{"var": "hours_in_stage"}, -1e9]},
            {"or": [{"var": "stage"}, {"!": {"var": "stage"}}]},
        ],
    )
    def test_detected(self, condition):
        assert matches_every_order(condition, CATALOGUE)
        assert codes(warnings_before_enable(rule(condition=condition), CATALOGUE))[0] == (
            "condition",
            "rule.matches_every_order",
        )

    @pytest.mark.parametrize(
        "condition",
        [
            APPROVAL_TIMEOUT["condition"],
            {">": [{"var": "amount"}, 0]},
            {"<=": [{"var": "days_until_payment_due"}, 3]},
            False,
        ],
    )
    def test_selective_conditions_pass(self, condition):
        assert not matches_every_order(condition, CATALOGUE)


class TestDecideFiring:
    once_per_episode = FiringPolicy(mode="once_per_episode")

    def test_once_per_episode_fires_again_only_after_false(self):
        d1 = decide_firing(self.once_per_episode, None, True, NOW)
        d2 = decide_firing(self.once_per_episode, d1.state, True, NOW + timedelta(minutes=1))
        d3 = decide_firing(self.once_per_episode, d2.state, False, NOW + timedelta(minutes=2))
        d4 = decide_firing(self.once_per_episode, d3.state, True, NOW + timedelta(minutes=3))
        assert [d.fire for d in (d1, d2, d3, d4)] == [True, False, False, True]
        assert (d1.episode, d4.episode) == (1, 2)
        assert d2.reason == "same_episode"

    def test_once_per_order_never_again(self):
        policy = FiringPolicy(mode="once_per_order")
        d1 = decide_firing(policy, None, True, NOW)
        d2 = decide_firing(policy, d1.state, False, NOW)
        d3 = decide_firing(policy, d2.state, True, NOW)
        assert [d.fire for d in (d1, d2, d3)] == [True, False, False]
        assert d3.reason == "already_fired"

    def test_every_n_hours(self):
        policy = FiringPolicy(mode="every_n_hours", every_hours=4)
        d1 = decide_firing(policy, None, True, NOW)
        d2 = decide_firing(policy, d1.state, True, NOW + timedelta(hours=3, minutes=59))
        d3 = decide_firing(policy, d2.state, True, NOW + timedelta(hours=4))
        assert [d.fire for d in (d1, d2, d3)] == [True, False, True]
        assert d3.episode == 2

    def test_every_time_fires_on_each_event_as_a_new_episode(self):
        policy = FiringPolicy(mode="every_time")
        d1 = decide_firing(policy, None, True, NOW)
        d2 = decide_firing(policy, d1.state, True, NOW)
        d3 = decide_firing(policy, d2.state, False, NOW)
        d4 = decide_firing(policy, d3.state, True, NOW)
        assert [d.fire for d in (d1, d2, d3, d4)] == [True, True, False, True]
        assert [d1.episode, d2.episode, d4.episode] == [1, 2, 3]

    def test_quiet_hours_defer_to_the_next_working_moment(self):
        policy = FiringPolicy(mode="once_per_episode", quiet_hours=True)
        cal = BusinessCalendar()
        night = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
        morning = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # Friday 09:00 Shanghai
        assert is_quiet(night, cal) and not is_quiet(morning, cal)
        d1 = decide_firing(policy, None, True, night, cal)
        d2 = decide_firing(policy, d1.state, True, morning, cal)
        assert (d1.fire, d1.reason, d2.fire, d2.episode) == (False, "quiet_hours", True, 1)

    def test_state_round_trips(self):
        state = decide_firing(self.once_per_episode, None, True, NOW).state
        assert FiringState.model_validate_json(state.model_dump_json()) == state


class TestPlanActions:
    def facts(self, **values):
        order = {
            "id": 7,
            "number": "SO-7",
            "stage": "approval",
            "amount": 1200,
            "currency": "CNY",
            "stage_entered_at": NOW - timedelta(days=6),
            **values,
        }
        return build_facts(order, CATALOGUE, FactContext(now=NOW))

    def test_approval_timeout_effects(self):
        people = People(
            owner_id=1, owner_manager_id=2, current_approver_ids=(3,), current_approver_manager_ids=(4, 3)
        )
        plan = plan_actions(rule(), order_id=7, facts=self.facts(), episode=2, people=people, now=NOW)
        todo, flag, note = plan.effects
        assert isinstance(todo, fx.CreateTodo) and todo.assignee_ids == (3,) and todo.cc_user_ids == (4,)
        # one text per reader language; a legacy single text serves both; no trailing ".0"
        both = {"zh-CN": "Approve SO-7: waiting 32 h", "en": "Approve SO-7: waiting 32 h"}
        assert todo.title == both and todo.body == {"zh-CN": "Amount 1200 CNY", "en": "Amount 1200 CNY"}
        assert todo.priority == "high" and todo.due_at == NOW + timedelta(hours=4)
        assert todo.dedupe_key == firing_key("approval_timeout", 7, 2) + ":0"
        assert flag == fx.AddRiskFlag(
            dedupe_key="rule:approval_timeout:7:2:1", flag="approval_late", reason="approval"
        )
        assert isinstance(note, fx.Notify) and note.user_ids == (1,)
        assert plan.problems == ()

    def test_same_firing_gives_same_effects(self):
        people = People(owner_id=1, current_approver_ids=(3,))
        a = plan_actions(rule(), order_id=7, facts=self.facts(), episode=1, people=people, now=NOW)
        b = plan_actions(rule(), order_id=7, facts=self.facts(), episode=1, people=people, now=NOW)
        assert a == b

    def test_unresolved_assignee_is_a_problem_not_a_crash(self):
        plan = plan_actions(rule(), order_id=7, facts=self.facts(), episode=1, people=People(), now=NOW)
        assert [type(e) for e in plan.effects] == [fx.AddRiskFlag]
        assert [code for code, _ in plan.problems] == ["rule.assignee_unresolved", "rule.assignee_unresolved"]

    def test_an_alert_for_nobody_goes_to_the_owners_manager_else_the_owner(self):
        no_approver = People(owner_id=1, owner_manager_id=2)
        plan = plan_actions(rule(), order_id=7, facts=self.facts(), episode=1, people=no_approver, now=NOW)
        todo = next(e for e in plan.effects if isinstance(e, fx.CreateTodo))
        assert todo.assignee_ids == (2,) and todo.cc_user_ids == ()
        assert plan.problems[0] == ("rule.assignee_fallback",
                                    {"action": 0, "assignee": "current_approver", "to": "owner_manager"})
        only_owner = plan_actions(rule(), order_id=7, facts=self.facts(), episode=1, people=People(owner_id=1),
                                  now=NOW)
        assert next(e for e in only_owner.effects if isinstance(e, fx.CreateTodo)).assignee_ids == (1,)
        assert only_owner.problems[0][1]["to"] == "owner"

    def test_other_actions(self):
        actions = [
            {
                "type": "message_customer",
                "subject_template": "Order {{ order.number }}",
                "body_template": "Due soon",
            },
            {"type": "call_webhook", "url": "https://example.test/hook"},
            {"type": "set_field", "field": "data.incoterm", "value": "FOB"},
            {"type": "add_tag", "tag": "late"},
            {"type": "start_flow", "flow_key": "expedite"},
            {"type": "escalate", "title_template": "Escalated {{ order.number }}"},
            {
                "type": "create_todo",
                "assignee": {"kind": "role", "role": "warehouse"},
                "title_template": "Ship",
            },
        ]
        people = People(owner_manager_id=9, role_members={"warehouse": (5, 6)})
        plan = plan_actions(
            rule(actions=actions), order_id=7, facts=self.facts(), episode=1, people=people, now=NOW
        )
        kinds = [type(e).__name__ for e in plan.effects]
        assert kinds == [
            "MessageCustomer",
            "CallWebhook",
            "SetField",
            "AddTag",
            "StartFlow",
            "CreateTodo",
            "CreateTodo",
        ]
        assert plan.effects[5].priority == "urgent" and plan.effects[5].assignee_ids == (9,)
        assert plan.effects[6].assignee_ids == (5, 6)
        assert plan.effects[1].payload["order"]["number"] == "SO-7"


class TestTemplates:
    def test_sandbox_blocks_attribute_escape(self):
        with pytest.raises(TemplateProblem) as caught:
            render_template("{{ order.__class__.__mro__ }}", {"order": {}})
        assert caught.value.code in ("rule.template_forbidden", "rule.template_unknown_name",
                                     "rule.template_unknown_name_suggest")

    def test_strict_undefined(self):
        with pytest.raises(TemplateProblem) as caught:
            render_template("{{ order.nope }}", {"order": {"number": "1"}})
        assert caught.value.code.startswith("rule.template_unknown_name")
        assert caught.value.params["name"] == "order.nope"
