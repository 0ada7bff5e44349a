"""The compiled evaluator (engine/jsonlogic_compile.py) gives the interpreter's answer, always:
the whole jsonlogic.com conformance suite, Gendan's pinned JavaScript cases, and generated
conditions × facts (hostile ones included), compared value by value and error by error."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.facts import FactContext
from engine.jsonlogic import evaluate, matches
from engine.jsonlogic_compile import compile_logic, compiled_matches
from engine.rules import compiled as compiled_module
from engine.rules.compiled import compiled_condition, holds
from engine.rules.relative import resolve

SUITE = Path(__file__).resolve().parent / "data" / "jsonlogic" / "tests.json"  # jsonlogic.com, MIT


def outcome(run, *args):
    try:
        return "ok", run(*args)
    except (RecursionError, MemoryError, ArithmeticError, TypeError, ValueError, ReferenceError,
            AttributeError, KeyError, IndexError) as exc:
        return "error", type(exc).__name__


def same(a, b) -> bool:
    """Equal JSON results: NaN equals NaN, true is never 1, 1 == 1.0 only between numbers."""
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                       and not isinstance(a, bool) and not isinstance(b, bool)):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def agree(rule, data) -> None:
    expected = outcome(evaluate, rule, data)
    actual = outcome(compile_logic(rule), data)
    assert expected[0] == actual[0] and same(expected[1], actual[1]), (rule, data, expected, actual)
    expected_match = outcome(matches, rule, data)
    assert same(expected_match, outcome(compiled_matches(rule), data)), (rule, data)


def _suite():
    for entry in json.loads(SUITE.read_text(encoding="utf-8")):
        if not isinstance(entry, str):
            yield entry[0], entry[1]


@pytest.mark.parametrize(("rule", "data"), list(_suite()))
def test_conformance_suite_compiled_as_interpreted(rule, data):
    agree(rule, data)


PINNED = [  # the JavaScript semantics engine/jsonlogic.py pins, and shapes the inline nodes take
    ({"==": [None, 0]}, {}), ({"===": [1, True]}, {}), ({"==": ["1_000", 1000]}, {}),
    ({"/": [1, 0]}, {}), ({"/": [0, 0]}, {}), ({"%": [5, 0]}, {}), ({"cat": [True, 1.0, [1, None, 2]]}, {}),
    ({"==": [9007199254740993, 9007199254740992]}, {}), ({">": [9007199254740993, 9007199254740992]}, {}),
    ({"<": [{"var": "big"}, 1]}, {"big": 10**400}), ({">": [{"var": "a"}, {"var": "b"}]}, {"a": "b", "b": "a"}),
    ({">": [{"var": "a"}, 5]}, {"a": "10"}), ({"<": [{"var": "a"}, None]}, {"a": -1}),
    ({"<": [1, {"var": "a"}, 3]}, {"a": 2}), ({"<": [1, 2, None]}, {}), ({">": [1]}, {}),
    ({">=": ["2026-12-07", {"var": "due"}]}, {"due": "2026-12-06"}),
    ({"==": [{"var": "tags"}, {"var": "tags"}]}, {"tags": [1]}), ({"==": [[1], [1]]}, {}),
    ({"var": "a.b.c"}, {"a": {"b": {"c": 0}}}), ({"var": "a.b.c"}, {"a": {"b": None}}),
    ({"var": "a.1"}, {"a": [5, 6]}), ({"var": "a.length"}, {"a": "héllo"}), ({"var": "a.b"}, {"a": 3}),
    ({"var": "a"}, [1, 2]), ({"var": "0"}, [7]), ({"var": 1}, [7, 8]), ({"var": ""}, {"x": 1}),
    ({"var": ["missing", "fallback"]}, {}), ({"var": "x"}, None), ({"var": "x"}, "text"),
    ({"and": [1, 0, 2]}, {}), ({"and": []}, {}), ({"or": []}, {}), ({"and": [{"var": "x"}, "y"]}, {"x": []}),
    ({"if": []}, {}), ({"if": [0, 1]}, {}), ({"if": [0, 1, 0, 2, 3]}, {}), ({"?:": [1, 2, 3]}, {}),
    ({"??": [None, {"var": "x"}, 3]}, {"x": 0}), ({"val": ["a", "b.c"]}, {"a": {"b.c": 1}}),
    ({"exists": ["a", "b"]}, {"a": {"b": None}}), ({"exists": []}, {}),
    ({"filter": [{"var": "xs"}, {">": [{"var": ""}, 1]}]}, {"xs": [1, 2, 3]}),
    ({"reduce": [{"var": "xs"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, {"var": "seed"}]},
     {"xs": [1, 2], "seed": 10}),
    ({"all": [[], {"var": ""}]}, {}), ({"some": ["nope", 1]}, {}), ({"none": [[0, 0], {"var": ""}]}, {}),
    ({"nope": [{"var": "x"}]}, {}), ({"nope": [{"/": [1, 0]}]}, {}), ({"in": ["é", "café"]}, {}),
    ({"in": [1, [True, 1]]}, {}), ({"in": [1, None]}, {}), ({"!": [[]]}, {}), ({"!!": ["0"]}, {}),
    ({"!": []}, {}), ({"missing": ["a", "b"]}, {"a": ""}), ({"missing_some": [1, ["a", "b"]]}, {"b": 1}),
    ({"substr": ["日本語テキスト", -3, 2]}, {}), ({"merge": [1, [2, [3]]]}, {}),
    ({"min": [1, "x"]}, {}), ({"max": []}, {}), ({"-": [5, None]}, {}), ({"-": ["5"]}, {}),
    ({"+": [1e308, 1e308]}, {}), ({"*": [2**60, 2**60]}, {}), ({"==": [{"a": 1, "b": 2}, "[object Object]"]}, {}),
    ({"!=": [{"var": "s"}, "ünïcode"]}, {"s": "ünïcode"}), ({"==": [{"var": "d"}, {"var": "d"}]}, {"d": {"k": 1}}),
    ({"==": ["1", 1, 2]}, {}), ({"==": [1]}, {}), ({"<": []}, {}), ({"var": ["a", {"var": "b"}]}, {"b": 3}),
    ({"var": [{"cat": ["a", ".b"]}]}, {"a": {"b": 5}}), ([{"var": "a"}, 1, [2]], {"a": 1}), ({"a": 1, "b": 2}, {}),
]


@pytest.mark.parametrize(("rule", "data"), PINNED)
def test_pinned_semantics_compiled_as_interpreted(rule, data):
    agree(rule, data)


def test_a_literal_list_is_new_on_every_evaluation():
    run = compile_logic([1, 2])
    first = run({})
    first.append(3)
    assert run({}) == [1, 2]


# --- generated conditions × facts ----------------------------------------------------------------

NAMES = ["amount", "stage", "data.region", "data.items", "tags", "due", "ok", "nested.a.b", "名前", "x.0", ""]
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, -(2**53) - 1, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 0.1, 1e21, 1e-7, 1.5]),
    st.text(max_size=8) | st.sampled_from(["", "0", "1", " 12 ", "0x1F", "1e3", "Infinity", "2026-12-07",
                                           "2026-12-07T06:00:00+00:00", "shipping", "ünïcode", "日本"]),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(["a", "b", "0", "length"]), inner, max_size=3),
                           max_leaves=8)
facts = st.fixed_dictionaries({}, optional={
    "amount": json_values, "stage": json_values, "tags": json_values, "due": json_values, "ok": json_values,
    "名前": json_values,
    "data": st.dictionaries(st.sampled_from(["region", "items"]), json_values, max_size=2) | json_values,
    "nested": st.fixed_dictionaries({"a": st.dictionaries(st.just("b"), json_values, max_size=1)}) | json_values,
    "x": st.lists(json_values, max_size=3),
})
OPS = ["==", "!=", "===", "!==", "<", "<=", ">", ">=", "!", "!!", "and", "or", "if", "?:", "??", "+", "-", "*",
       "/", "%", "min", "max", "cat", "substr", "in", "merge", "missing", "missing_some", "var", "val", "exists",
       "filter", "map", "reduce", "all", "some", "none", "unknown_op"]


def _node(children):
    var = st.one_of(st.sampled_from(NAMES), st.integers(-1, 3)).map(lambda n: {"var": n}) \
        | st.tuples(st.sampled_from(NAMES), scalars).map(lambda t: {"var": list(t)})
    operation = st.tuples(st.sampled_from(OPS), st.lists(children, max_size=4)).map(
        lambda t: {t[0]: t[1]} if len(t[1]) != 1 or t[0] in ("var", "val") else {t[0]: t[1][0]})
    return var | operation | st.lists(children, max_size=2)


conditions = st.recursive(scalars | st.sampled_from(NAMES).map(lambda n: {"var": n}), _node, max_leaves=20)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, facts)
def test_generated_conditions_compiled_as_interpreted(rule, data):
    agree(rule, data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), json_values, json_values)
def test_generated_comparisons_of_mixed_types(op, a, b):
    agree({op: [{"var": "a"}, {"var": "b"}]}, {"a": a, "b": b})
    agree({op: [{"var": "a"}, b if not isinstance(b, (list, dict)) else [b]]}, {"a": a})


def test_deep_nesting_compiles_and_agrees():
    rule: object = {"var": "amount"}
    for depth in range(60):
        rule = {"!": [rule]} if depth % 2 else {"and": [True, rule]}
    agree(rule, {"amount": 5})
    agree(rule, {})


# --- conditions at a moment: relative dates, the cache ----------------------------------------------

NOW = datetime(2026, 12, 7, 15, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize("condition", [
    {">": [{"var": "due"}, {"today": [-3]}]},
    {"and": [{"<=": [{"var": "entered"}, {"now": [-48, "hours"]}]}, {"==": [{"var": "stage"}, "shipping"]}]},
    {"<": [{"today": [-2, "working_days"]}, {"var": "due"}, {"today": [5]}]},
])
def test_relative_dates_resolve_at_the_moment_they_are_asked(condition):
    samples = [{"due": "2026-12-05", "entered": "2026-12-05T15:30:12+00:00", "stage": "shipping"},
               {"due": "2026-12-03", "entered": "2026-12-05T15:30:13+00:00", "stage": "shipping"},
               {"due": "2026-12-09", "entered": "2026-11-01T00:00:00+00:00", "stage": "shipping"}, {}]
    for moment in (NOW, NOW + timedelta(seconds=1), NOW + timedelta(days=1), NOW + timedelta(days=30), NOW):
        ctx = FactContext(now=moment)
        for data in samples:
            assert holds(condition, data, ctx) is matches(resolve(condition, ctx), data), (moment, data)


def test_a_malformed_relative_date_raises_as_resolve_does():
    condition = {">": [{"var": "due"}, {"today": [1.5]}]}
    ctx = FactContext(now=NOW)
    with pytest.raises(ValueError):
        resolve(condition, ctx)
    with pytest.raises(ValueError):
        holds(condition, {}, ctx)


def test_a_condition_is_compiled_once_and_the_cache_is_bounded(monkeypatch):
    condition = {">": [{"var": "amount"}, 10]}
    assert compiled_condition(condition) is compiled_condition(condition)
    assert compiled_condition({">": [{"var": "amount"}, 10]}) is not compiled_condition(condition)  # by identity
    monkeypatch.setattr(compiled_module, "_LIMIT", 3)
    kept = [{"==": [i, i]} for i in range(10)]
    for c in kept:
        compiled_condition(c)
    assert len(compiled_module._CACHE) <= 4
    assert holds(kept[0], {}, FactContext(now=NOW)) is True


def test_matches_without_a_moment_is_the_interpreters_even_with_a_relative_date_left_in():
    plain = {"==": [{"var": "stage"}, "shipping"]}
    assert compiled_module.matches(plain, {"stage": "shipping"}) is True
    assert compiled_module.matches(plain, {"stage": "design"}) is False
    unresolved = {">": [{"var": "due"}, {"today": [-3]}]}
    with pytest.raises(ReferenceError):
        matches(unresolved, {"due": "2026-12-01"})
    with pytest.raises(ReferenceError):
        compiled_module.matches(unresolved, {"due": "2026-12-01"})
