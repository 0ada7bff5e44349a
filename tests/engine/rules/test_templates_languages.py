"""Message templates per reader language, the documented context, filters, the manager's manager (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import effects as fx
from engine.facts import default_catalogue
from engine.rules.actions import People, describe_effect, plan_actions, resolve
from engine.rules.classics import CLASSIC_RULES
from engine.rules.definition import Assignee, load_rule
from engine.rules.template_context import TemplateExtras, build_context, sample_context, variables
from engine.rules.template_filters import format_date, format_money, format_number
from engine.rules.templates import TemplateProblem, check_template, render_template
from engine.rules.validate import template_issues, validate

NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
FACTS = {"number": "TPL-1", "amount": 6000.0, "currency": "CNY", "stage": "approval", "planned_delivery": "2026-12-24",
         "payment_due": None, "hours_in_stage": 30.0, "data": {"incoterm": "FOB"}}
EXTRAS = TemplateExtras(customer={"name": "TPL-Acme", "code": "C1"}, owner={"name": "Rep"},
                        stage_labels={"zh": "审批", "en": "Approval"}, tracking_link="https://g.test/t/x")


def rule_with(*actions):
    return load_rule({"key": "tpl", "name": {"zh": "规则", "en": "Rule"}, "trigger": {"kind": "time"},
                      "condition": {">": [{"var": "amount"}, 0]}, "actions": list(actions)})


class TestFilters:
    @pytest.mark.parametrize("value, currency, lang, expected", [
        (6000.0, "CNY", "zh", "¥6,000.00"), (6000.0, "CNY", "en", "6,000.00 CNY"),
        (1234567.891, "USD", "zh", "US$1,234,567.89"), (-5, "EUR", "en", "-5.00 EUR"),
        (1500, "JPY", "en", "1,500 JPY"), (10, "XYZ", "zh", "10.00 XYZ"), (None, "CNY", "zh", ""),
        ("12.5", "CNY", "zh", "¥12.50"),
    ])
    def test_money(self, value, currency, lang, expected):
        assert format_money(value, currency, lang) == expected

    @pytest.mark.parametrize("value, expected", [(6000.0, "6000"), (0.1 + 0.2, "0.3"), (2.5, "2.5"), (7, "7"),
                                                 (None, ""), (1e20, "1e+20")])
    def test_numbers_without_a_trailing_zero(self, value, expected):
        assert format_number(value) == expected

    def test_dates_in_the_installation_zone(self):
        # 20:00 UTC on the 6th is already the 7th in Shanghai
        assert format_date("2026-12-06T20:00:00+00:00", "zh") == "2026年12月7日"
        assert format_date("2026-12-06T20:00:00+00:00", "en", "America/New_York") == "Dec 6, 2026"
        assert format_date("2026-12-24", "en", style="iso") == "2026-12-24"
        assert format_date("not a date", "en") == "not a date" and format_date(None, "zh") == ""

    def test_printed_values(self):
        context = build_context(FACTS, lang="en", extras=EXTRAS, rule_key="k", rule_name={"en": "R"}, now=NOW)
        out = render_template("{{ order.amount }}|{{ order.payment_due }}|{{ order.amount | money }}|"
                              "{{ order.planned_delivery | date }}|{{ now | date }}", context)
        assert out == "6000||6,000.00 CNY|Dec 24, 2026|Dec 7, 2026"


class TestContext:
    def test_every_documented_variable_renders_and_unknown_ones_are_named(self):
        catalogue = default_catalogue()
        for item in variables(catalogue, "en"):
            assert check_template("{{ " + item["name"] + " }}", catalogue) is None, item
        problem = check_template("{{ order.customer_nme }}", catalogue)
        assert (problem.code, problem.params["name"], problem.params["suggestion"]) == (
            "rule.template_unknown_name_suggest", "order.customer_nme", "order.customer_name")

    def test_the_sample_context_holds_the_documented_names(self):
        context = sample_context(default_catalogue(), "en")
        assert {"order", "customer", "owner", "rule", "now"} <= set(context)
        assert {"customer_name", "customer_code", "owner_name", "stage_label", "tracking_link"} <= set(context["order"])


class TestLanguages:
    def test_each_reader_language_renders_its_own_template_in_its_own_context(self):
        rule = rule_with({"type": "create_todo", "assignee": {"kind": "owner"},
                          "title_template": {"zh": "{{ order.stage_label }}：{{ order.amount | money }}",
                                             "en": "{{ order.stage_label }}: {{ order.amount | money }}"},
                          "body_template": {"zh": "仅中文 {{ order.stage_label }}", "en": ""}})
        plan = plan_actions(rule, order_id=1, facts=FACTS, episode=1, people=People(owner_id=5), now=NOW,
                            extras=EXTRAS)
        (todo,) = plan.effects
        assert todo.title == {"zh-CN": "审批：¥6,000.00", "en": "Approval: 6,000.00 CNY"}
        # the English one is empty: the English reader gets the Chinese text, rendered as Chinese
        assert todo.body == {"zh-CN": "仅中文 审批", "en": "仅中文 审批"}
        assert plan.problems == ()
        described = describe_effect(todo, "en")
        assert described["title"] == "Approval: 6,000.00 CNY" and described["i18n"]["title"]["zh-CN"] == "审批：¥6,000.00"

    @pytest.mark.parametrize("text, stored", [("Hello {{ order.number }}", {"zh": "", "en": "Hello {{ order.number }}"}),
                                              ("你好 {{ order.number }}", {"zh": "你好 {{ order.number }}", "en": ""})])
    def test_a_stored_single_text_keeps_working_in_the_language_it_is_written_in(self, text, stored):
        rule = rule_with({"type": "notify", "recipients": [{"kind": "owner"}], "title_template": text})
        assert rule.actions[0].model_dump()["title_template"] == stored
        plan = plan_actions(rule, order_id=1, facts=FACTS, episode=1, people=People(owner_id=5), now=NOW)
        (note,) = plan.effects
        assert note.title["zh-CN"] == note.title["en"] == text.replace("{{ order.number }}", "TPL-1")

    def test_each_language_is_validated_at_its_own_path(self):
        rule = rule_with({"type": "create_todo", "assignee": {"kind": "owner"},
                          "title_template": {"zh": "{{ order.numbr }}", "en": "{{ order.number }"}})
        assert [(i.path, i.code) for i in template_issues(rule, default_catalogue())] == [
            ("actions.0.title_template.zh", "rule.template_unknown_name_suggest"),
            ("actions.0.title_template.en", "rule.template_syntax_unclosed_print")]

    def test_an_empty_title_in_both_languages_is_an_issue(self):
        rule = rule_with({"type": "create_todo", "assignee": {"kind": "owner"}, "title_template": {"zh": " ", "en": ""}})
        assert "rule.title_empty" in [i.code for i in validate(rule, default_catalogue())]

    def test_a_runtime_gap_renders_empty_and_is_recorded_never_a_skipped_action(self):
        rule = rule_with({"type": "create_todo", "assignee": {"kind": "owner"},
                          "title_template": {"en": "{{ order.number }} {{ order.data['colour'] }}|{{ order.payment_due }}"}})
        plan = plan_actions(rule, order_id=1, facts=FACTS, episode=1, people=People(owner_id=5), now=NOW)
        assert plan.effects[0].title["en"] == "TPL-1 |"
        assert plan.problems == (("rule.template_missing_value",
                                  {"action": 0, "names": "order.data.colour, order.payment_due"}),)

    def test_a_hostile_template_is_still_refused_when_rendering_leniently(self):
        context = build_context(FACTS, lang="zh", extras=None, rule_key="k", rule_name={}, now=NOW)
        for source, code in (("{{ 'a' * 300000000 }}", "rule.template_too_costly"),
                             ("{{ order.amount | money * 300000000 }}", "rule.template_too_costly"),
                             ("{% for i in range(999) %}{% for j in range(999) %}xx{% endfor %}{% endfor %}",
                              "rule.template_output_too_large")):
            with pytest.raises(TemplateProblem) as caught:
                render_template(source, context, missing=[])
            assert caught.value.code == code, source
        # the sandbox hides internals: nothing leaks (validation refuses the name before saving)
        assert render_template("{{ order.__class__.__mro__ }}", context, missing=[]) == ""

    def test_the_classic_rules_ship_both_languages(self):
        catalogue = default_catalogue().with_designed([])
        for key, data in CLASSIC_RULES.items():
            rule = load_rule(data)
            for action in rule.actions:
                for name in ("title_template", "body_template", "subject_template", "reason_template"):
                    template = getattr(action, name, None)
                    if template is not None and not template.is_empty():
                        assert template.zh.strip() and template.en.strip(), (key, name)
            issues = [i for i in validate(rule, catalogue) if "_template" in i.path and "expected_completion" not in
                      str(i.params)]
            assert issues == [], key


class TestManagersManager:
    def test_resolves_to_the_head_above(self):
        people = People(owner_id=1, owner_manager_id=2, owner_manager_manager_id=3)
        assert resolve(Assignee(kind="owner_manager_manager"), people) == (3,)

    def test_falls_back_to_the_manager_and_says_so(self):
        rule = rule_with({"type": "create_todo", "assignee": {"kind": "owner_manager_manager"}, "title_template": "x"})
        plan = plan_actions(rule, order_id=1, facts=FACTS, episode=1, people=People(owner_id=1, owner_manager_id=2),
                            now=NOW)
        assert isinstance(plan.effects[0], fx.CreateTodo) and plan.effects[0].assignee_ids == (2,)
        assert plan.problems == (("rule.assignee_fallback",
                                  {"action": 0, "assignee": "owner_manager_manager", "to": "owner_manager"}),)
