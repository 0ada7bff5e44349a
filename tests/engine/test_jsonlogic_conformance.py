"""The whole jsonlogic.com conformance suite, plus the places where we pin JavaScript semantics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine.jsonlogic import evaluate, js_compare, matches, to_number, validate_logic

# jsonlogic.com's tests.json, kept in the repository (source and MIT licence beside it)
SUITE = Path(__file__).resolve().parent / "data" / "jsonlogic" / "tests.json"


def _load_cases() -> list[tuple[str, object, object, object]]:
    raw = json.loads(SUITE.read_text(encoding="utf-8"))
    cases, section = [], ""
    for entry in raw:
        if isinstance(entry, str):
            section = entry.lstrip("# ").strip()
            continue
        rule, data, expected = entry
        cases.append((section, rule, data, expected))
    return cases


def same_json(actual: object, expected: object) -> bool:
    """JSON equality where true is never 1 (bool is not a number) and 1 == 1.0."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same_json(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same_json(actual[k], expected[k]) for k in expected)
        )
    return type(actual) is type(expected) and actual == expected


CASES = _load_cases()


def test_suite_is_complete():
    assert len(CASES) == 277


def test_whole_conformance_suite_passes():
    failures = []
    for section, rule, data, expected in CASES:
        try:
            actual = evaluate(rule, data)
        except Exception as exc:  # an exception is a failure, recorded with the case
            failures.append((section, rule, data, expected, repr(exc)))
            continue
        if not same_json(actual, expected):
            failures.append((section, rule, data, expected, actual))
    assert failures == [], f"{len(failures)} of {len(CASES)} failed, first: {failures[:5]}"


class TestJavaScriptSemantics:
    """Where panzi-json-logic follows Python, Gendan follows JavaScript (the SQL compiler must agree)."""

    @pytest.mark.parametrize(
        "rule, expected",
        [
            ({"==": [None, 0]}, False),
            ({"==": [0, None]}, False),
            ({"==": [None, None]}, True),
            ({"===": [1, True]}, False),
            ({"===": [1, 1.0]}, True),
            ({"==": [1, True]}, True),
            ({"==": ["1", True]}, True),
            ({"<": [None, "z"]}, False),
            ({"<": [None, "5"]}, True),
            ({"<=": [None, None]}, True),
            ({"<": ["1_000", 2000]}, False),
            ({"<": ["0x10", 17]}, True),
            ({"in": [1, [True]]}, False),
            ({"in": [1, [1.0]]}, True),
            ({"/": [1, 0]}, math.inf),
            ({"/": [-1, 0]}, -math.inf),
            ({"<": [{"/": [0, 0]}, 1]}, False),
            ({"%": [-7, 3]}, -1.0),
            ({"%": [7.5, 2]}, 1.5),
        ],
    )
    def test_operator_matches_javascript(self, rule, expected):
        assert same_json(evaluate(rule, {}), expected)

    def test_to_number_follows_javascript_number(self):
        assert to_number(" 12 ") == 12
        assert to_number("") == 0
        assert math.isnan(to_number("abc"))
        assert math.isnan(to_number("inf"))
        assert to_number("-Infinity") == -math.inf
        assert to_number([]) == 0
        assert to_number(["7"]) == 7
        assert math.isnan(to_number([1, 2]))

    def test_strings_compare_as_strings_numbers_as_numbers(self):
        assert js_compare("<", "10", "9") is True
        assert js_compare("<", "10", 9) is False

    def test_matches_uses_truthiness(self):
        assert matches({"var": "x"}, {"x": "0"}) is True
        assert matches({"var": "x"}, {"x": []}) is False
        assert matches({"missing": ["x"]}, {"x": ""}) is True


class TestIssue18Semantics:
    """What the JavaScript reference (json-logic-js) answers where we answered Python's way, and the
    newer community operators business rules need (`??`, `val`, `exists`)."""

    @pytest.mark.parametrize(
        "rule, data, expected",
        [
            ({"-": [5, None]}, {}, 5),  # null is 0; only a missing second argument negates
            ({"-": [{"var": "amount"}, {"var": "data.discount"}]}, {"amount": 100, "data": {}}, 100),
            ({"-": [5]}, {}, -5),
            ({"cat": [True, "/", False]}, {}, "true/false"),
            ({"cat": [1.0, "|", 0.1, "|", 1e21, "|", 1e-7, "|", None, "|", [1, None, 2]]}, {},
             "1|0.1|1e+21|1e-7|null|1,,2"),
            ({"in": [True, "True"]}, {}, False),
            ({"in": [True, "is true"]}, {}, True),
            ({"==": [[True], "true"]}, {}, True),
            ({"reduce": [[1, 2, 3], {"+": [{"var": "current"}, {"var": "accumulator"}]}, {"+": [1, 1]}]}, {}, 8),
            ({"reduce": [{"var": "xs"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, {"var": "start"}]},
             {"xs": [1, 2], "start": 10}, 13),
            ({"<": [1, 2, None]}, {}, False),  # 2 < null: null is 0 (a third argument, as in JavaScript)
            ({"<": [-2, -1, None]}, {}, True),
            ({"??": [None, {"var": "a"}, 3]}, {"a": None}, 3),
            ({"??": [{"var": "a"}, 3]}, {"a": 0}, 0),
            ({"??": [None, None]}, {}, None),
            ({"val": "hello"}, {"hello": 1}, 1),
            ({"val": ["data", "x.y"]}, {"data": {"x.y": 4}}, 4),
            ({"val": ["data", "missing"]}, {"data": {}}, None),
            ({"exists": ["hello", "world"]}, {"hello": {"world": False}}, True),
            ({"exists": "hello"}, {"hello": None}, True),
            ({"exists": [""]}, {"hello": 1}, False),
        ],
    )
    def test_answers_as_javascript(self, rule, data, expected):
        assert same_json(evaluate(rule, data), expected)

    def test_new_operators_validate_and_name_their_fields(self):
        fields = {"amount": "number", "data.discount": "number"}
        assert validate_logic({"??": [{"val": ["data", "discount"]}, 0]}, fields) == []
        assert [i.code for i in validate_logic({"exists": ["data", "nope"]}, fields)] == ["logic.unknown_field"]


class TestValidateLogic:
    FIELDS = {"amount": "number", "stage": "string", "planned_delivery": "date", "tags": "list"}

    def test_valid_rule_has_no_issues(self):
        rule = {"and": [{">": [{"var": "amount"}, 10]}, {"==": [{"var": "stage"}, "approval"]}]}
        assert validate_logic(rule, self.FIELDS) == []

    def test_unknown_operator_reported_with_path(self):
        issues = validate_logic({"and": [True, {"frobnicate": [1]}]}, self.FIELDS, path="condition")
        assert [(i.path, i.code, i.params) for i in issues] == [
            ("condition.and.1.frobnicate", "logic.unknown_operator", {"operator": "frobnicate"})
        ]

    def test_bad_arity(self):
        issues = validate_logic({"==": [1]}, self.FIELDS)
        assert issues[0].code == "logic.bad_arity"
        assert issues[0].params["count"] == 1

    def test_unknown_field_everywhere(self):
        rule = {"or": [{"var": "nope"}, {"missing": ["amount", "also_nope"]}]}
        issues = validate_logic(rule, self.FIELDS)
        assert {(i.path, i.params["field"]) for i in issues} == {
            ("or.0.var", "nope"),
            ("or.1.missing.1", "also_nope"),
        }

    def test_fields_inside_map_refer_to_the_item(self):
        rule = {"some": [{"var": "tags"}, {"==": [{"var": ""}, "vip"]}]}
        assert validate_logic(rule, self.FIELDS) == []

    def test_date_compared_with_non_date_string_is_type_mismatch(self):
        issues = validate_logic({"<": [{"var": "planned_delivery"}, "soon"]}, self.FIELDS)
        assert [i.code for i in issues] == ["logic.type_mismatch"]
        assert validate_logic({"<": [{"var": "planned_delivery"}, "2026-12-01"]}, self.FIELDS) == []

    def test_object_with_two_keys_is_not_an_operation(self):
        issues = validate_logic({"==": [1, 1], "!=": [1, 2]}, self.FIELDS)
        assert issues[0].code == "logic.object_not_operation"
