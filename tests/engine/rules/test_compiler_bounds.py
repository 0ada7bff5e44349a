"""Compile work is linear and bounded (issue 18): long sums and long `if` chains compile without
recursion into one flat expression that still agrees with the evaluator on both databases, and
conditions whose branches multiply are refused instead of compiled for minutes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rules_db import sales_order
from sqlalchemy.dialects import postgresql, sqlite
from test_compiler_differential import CATALOGUE, check

from engine.facts import FactContext
from engine.rules.compiler import MAX_PAIRS, NotCompilable, compile_condition

CTX = FactContext(now=datetime(2026, 1, 1, tzinfo=UTC))
AMOUNT = {"var": "amount"}


def chain(n: int) -> dict:
    """`if amount > 0 then amount > 1, elif amount > 1 then amount > 2, ...`: n truth branches."""
    return {"if": [part for i in range(n) for part in ({">": [AMOUNT, i]}, {">": [AMOUNT, i + 1]})] + [False]}


def render(condition) -> str:
    expr = compile_condition(condition, CATALOGUE, sales_order.c, CTX)
    return str(expr.compile(dialect=sqlite.dialect())) + str(expr.compile(dialect=postgresql.dialect()))


def test_a_long_if_chain_compiles_without_recursion_into_one_flat_case():
    sql = render(chain(1_500))  # RecursionError before: each branch was a nested call and a nested CASE
    assert sql.count("CASE") == 2  # one CASE per dialect, 1,500 WHENs each
    assert sql.count("WHEN") >= 2 * 1_400


def test_a_long_sum_renders_as_one_flat_left_to_right_sum():
    sql = render({">": [{"+": [AMOUNT, 0.1, 0.2] * 1_000}, 0]})  # built as a balanced tree, rendered flat
    assert sql.count(" + ") == 2 * 2_999 and "+ (" not in sql


def test_if_chains_and_sums_agree_with_the_evaluator(db):
    rows = [{"id": i, "number": f"SO-{i}", "status": "open", "amount": amount}
            for i, amount in enumerate([None, -3, 0, 0.5, 1, 2, 7, 40, 41, 1e6], start=1)]
    rules = [chain(60), {"!": chain(45)}, {"==": [{"if": [{">": [AMOUNT, 5]}, "big", {">": [AMOUNT, 0]}, "small", "none"]},
                                                  "small"]},
             {">": [{"+": [AMOUNT, 0.1, 0.2] * 30}, 10]}, {"<": [{"*": [AMOUNT, 1.5] * 5}, 20]}]
    assert check(db, rows, rules) == len(rules)


def test_branches_that_multiply_are_refused():
    wide = {"if": [part for i in range(50) for part in ({">": [AMOUNT, i]}, i)] + [0]}
    deeper = {"if": [part for i in range(50) for part in ({">": [AMOUNT, i]}, wide)] + [wide]}
    with pytest.raises(NotCompilable) as caught:
        compile_condition({"==": [deeper, deeper]}, CATALOGUE, sales_order.c, CTX)
    assert caught.value.code == "rule.compile.too_complex" and caught.value.params == {"max": MAX_PAIRS}
    compile_condition({"==": [wide, wide]}, CATALOGUE, sales_order.c, CTX)  # 51 x 51 pairs: fine


def test_constant_lists_cost_no_bind_parameter_per_item():
    """The scan query holds every rule and PostgreSQL allows 65,535 parameters per query."""
    condition = {"and": [{"in": [{"var": "stage"}, [f"S{i}" for i in range(500)]]},
                         {"in": [AMOUNT, list(range(500))]}]}
    compiled = compile_condition(condition, CATALOGUE, sales_order.c, CTX).compile(dialect=postgresql.dialect())
    assert len(compiled.params) <= 4
