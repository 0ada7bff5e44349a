"""Limits checked by `validate` (publish, enable) and `input_issues` (save, dry run, preview):
one code per limit with the path of the node, iterative on any depth (issue 18)."""

from __future__ import annotations

import math

import pytest

from engine.facts import default_catalogue
from engine.rules.definition import load_rule
from engine.rules.limits import (
    MAX_DEPTH,
    MAX_IN_LIST,
    MAX_NODES,
    MAX_OPERANDS,
    MAX_STRING,
    condition_issues,
    printable,
    value_issues,
)
from engine.rules.validate import input_issues, validate

AMOUNT = {"var": "amount"}


def nested_not(depth: int) -> dict:
    node: dict = {">": [AMOUNT, 0]}
    for _ in range(depth):
        node = {"!": node}
    return node


def rule(condition, **overrides) -> dict:
    return {"key": "k", "name": {"en": "k"}, "trigger": {"kind": "time"}, "condition": condition,
            "actions": [{"type": "add_risk_flag", "flag": "f"}], **overrides}


CASES = [
    (nested_not(MAX_DEPTH), "rule.limit_depth", {"max": MAX_DEPTH}),
    ({"or": [{"==": [AMOUNT, i]} for i in range(MAX_OPERANDS + 1)]}, "rule.limit_operands",
     {"operator": "or", "count": MAX_OPERANDS + 1, "max": MAX_OPERANDS}),
    ({"in": [{"var": "stage"}, ["s"] * (MAX_IN_LIST + 1)]}, "rule.limit_list", {"count": MAX_IN_LIST + 1, "max": MAX_IN_LIST}),
    ({"and": [{"in": [{"var": "stage"}, ["s"] * MAX_IN_LIST]}] * (MAX_NODES // MAX_IN_LIST + 1)}, "rule.limit_nodes",
     {"max": MAX_NODES}),
    ({"==": [{"var": "stage"}, "s" * (MAX_STRING + 1)]}, "rule.limit_string", {"length": MAX_STRING + 1, "max": MAX_STRING}),
    ({">": [AMOUNT, math.inf]}, "rule.number_not_finite", {"value": "inf"}),
    ({">": [AMOUNT, math.nan]}, "rule.number_not_finite", {"value": "nan"}),
    ({"==": [{"var": "stage"}, "a\x00"]}, "rule.text_bad_character", {"character": "U+0000"}),
    ({"==": [{"var": "stage"}, "\udfff"]}, "rule.text_bad_character", {"character": "U+DFFF"}),
]


@pytest.mark.parametrize("condition, code, params", CASES, ids=[c for _, c, _ in CASES])
def test_publishing_refuses_each_limit_with_its_code(condition, code, params):
    issues = validate(load_rule(rule(condition)), default_catalogue())
    assert [(i.code, i.params) for i in issues][:1] == [(code, params)]
    assert all(i.path.startswith("condition") for i in issues)
    assert [i.code for i in input_issues(rule(condition))][:1] == [code]


def test_just_under_every_limit_is_valid():
    condition = {"and": [nested_not(MAX_DEPTH - 3), {"in": [{"var": "stage"}, ["s" * MAX_STRING] * MAX_IN_LIST]},
                         {"or": [{"==": [AMOUNT, i]} for i in range(MAX_OPERANDS)]}]}
    assert condition_issues(condition) == []
    assert validate(load_rule(rule(condition)), default_catalogue()) == []


def test_a_condition_a_million_levels_deep_is_one_issue_not_a_recursion_error():
    node: list = [1]
    for _ in range(1_000_000):
        node = [node]
    assert [(i.path, i.code) for i in condition_issues({"==": [node, 1]})] == [
        ("condition.==.0" + ".0" * (MAX_DEPTH - 1), "rule.limit_depth")]
    assert [i.code for i in value_issues({"a": node})] == ["rule.limit_depth"]


def test_values_outside_the_condition_are_checked_too():
    bad = rule({">": [AMOUNT, 1]}, actions=[{"type": "set_field", "field": "data.weight", "value": math.inf}])
    assert [(i.path, i.code) for i in input_issues(bad)] == [("actions.0.value", "rule.number_not_finite")]
    assert [(i.path, i.code) for i in value_issues({"k": 10**400})] == [("k", "rule.number_not_finite")]


def test_printable_replaces_what_cannot_be_sent():
    assert printable({"a": ["x\ud800", {"\x00": 1}]}) == {"a": ["x\ufffd", {"\ufffd": 1}]}
