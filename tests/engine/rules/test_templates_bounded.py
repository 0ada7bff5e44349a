"""Rule message templates cannot exhaust memory or time (issue 18): each hostile template is
refused with a code, quickly, and ordinary templates render as before."""

from __future__ import annotations

import pytest

from engine.facts import default_catalogue
from engine.rules.definition import load_rule
from engine.rules.templates import MAX_OUTPUT, TemplateProblem, check_template, render_template
from engine.rules.validate import validate

CONTEXT = {"order": {"number": "T000001", "amount": 5, "data": {"tags": ["a", "b"]}}, "rule": {"key": "k", "name": "n"}}

HOSTILE = {
    "{{ 'a' * 300000000 }}": "rule.template_too_costly",
    "{{ 300000000 * 'a' }}": "rule.template_too_costly",
    "{{ [1] * 300000000 }}": "rule.template_too_costly",
    "{{ 2 ** 100000000 }}": "rule.template_too_costly",
    "{% set a = 'a' * 15000 %}{{ a ~ a }}": "rule.template_too_costly",
    "{% set a = 'a' * 15000 %}{{ a + a }}": "rule.template_too_costly",
    "{{ 'x' | center(300000000) }}": "rule.template_too_costly",
    "{{ 'x'.center(300000000) }}": "rule.template_too_costly",
    "{{ '{:>300000000}'.format(1) }}": "rule.template_too_costly",
    "{{ '%300000000s' % 1 }}": "rule.template_too_costly",
    "{{ '%300000000s' | format(1) }}": "rule.template_too_costly",
    "{{ range(10) | join(',') * 100000 }}": "rule.template_too_costly",
    "{{ range(100000) | list | length }}": "rule.template_too_costly",
    "{% for i in range(999) %}{% for j in range(999) %}{% for k in range(999) %}{% endfor %}{% endfor %}{% endfor %}":
        "rule.template_too_costly",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}": "rule.template_too_costly",
    "{% for i in range(999) %}{% for j in range(999) %}xx{% endfor %}{% endfor %}": "rule.template_output_too_large",
    "x" * 10_001: "rule.template_too_long",
    "{{ order.nope }}": "rule.template_unknown_name_suggest",
    "{{ lipsum(3) }}": "rule.template_unknown_name",
}


@pytest.mark.parametrize("source", sorted(HOSTILE))
def test_a_hostile_template_is_refused_with_a_code(source):
    with pytest.raises(TemplateProblem) as caught:
        render_template(source, CONTEXT)
    assert caught.value.code == HOSTILE[source]


@pytest.mark.parametrize("source, expected", [
    ("Order {{ order.number | upper }} x{{ order.amount * 2 }}", "Order T000001 x10"),
    ("{{ '%05d' % 3 }}|{{ '{:>4}'.format(1) }}|{{ order.data.tags | join('+') }}", "00003|   1|a+b"),
    ("{% for t in order.data.tags %}{% for i in range(2) %}{{ t }}{% endfor %}{% endfor %}", "aabb"),
    ("{{ 'ab' * 3 }} {{ 2 ** 10 }}", "ababab 1024"),
    ("{{ ('y' * " + str(MAX_OUTPUT) + ") | length }}", str(MAX_OUTPUT)),
])
def test_ordinary_templates_render(source, expected):
    assert render_template(source, CONTEXT) == expected


def test_publishing_refuses_a_costly_template_at_its_path():
    catalogue = default_catalogue()
    rule = load_rule({"key": "k", "name": {"en": "k"}, "trigger": {"kind": "time"},
                      "condition": {">": [{"var": "amount"}, 0]},
                      "actions": [{"type": "add_risk_flag", "flag": "f", "reason_template": "{{ 'a' * 300000000 }}"}]})
    assert [(i.path, i.code) for i in validate(rule, catalogue)] == [("actions.0.reason_template.en",
                                                                      "rule.template_too_costly")]
    assert check_template("{{ order.number }}", catalogue) is None


@pytest.mark.parametrize("source, name, suggestion", [
    ("{{ order.nope }}", "order.nope", "order.source"),
    ("{{ order.data.incoterm }}", "order.data.incoterm", ""),
    ("{{ order.customer_nme }}", "order.customer_nme", "order.customer_name"),
    ("{{ customer_name }}", "customer_name", "customer.name"),
    ("{{ custmer.name }}", "custmer", "customer"),
])
def test_an_unknown_name_is_named_with_the_closest_known_one(source, name, suggestion):
    problem = check_template(source, default_catalogue())
    assert problem.code == ("rule.template_unknown_name_suggest" if suggestion else "rule.template_unknown_name")
    assert (problem.params["name"], problem.params["suggestion"]) == (name, suggestion)
