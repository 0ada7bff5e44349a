"""The operators issue 18 added or changed agree between SQL and the evaluator on both databases:
`-` with a null subtrahend (null is 0), `<` with a null third argument, `cat`/`in` of booleans
("true", not "True"), `??` (coalesce) and `val`. `exists` stays event-only (NotCompilable)."""

from __future__ import annotations

import pytest
from rules_db import sales_order, sales_order_json
from test_compiler_differential import CATALOGUE, CTX, check

from engine.rules.compiler import NotCompilable, compile_condition

WEIGHT, AMOUNT, INCOTERM = {"var": "data.weight"}, {"var": "amount"}, {"var": "data.incoterm"}


@pytest.mark.parametrize("table", [sales_order, sales_order_json], ids=["jsonb", "json"])
def test_new_and_changed_operators_agree_with_the_evaluator(db, table):
    datas = [{}, {"weight": None}, {"weight": 3}, {"weight": -2.5}, {"weight": "7"}, {"weight": True},
             {"incoterm": "FOB", "urgent": True}, {"incoterm": "true", "weight": 0}, {"urgent": False}]
    rows = [{"id": i, "number": f"SO-{i}", "status": "open", "amount": amount, "stage": "approval", "data": data}
            for i, (amount, data) in enumerate(((a, d) for a in (None, 0, 5, 12) for d in datas), start=1)]
    rules = [
        {">": [{"-": [AMOUNT, WEIGHT]}, 4]}, {"==": [{"-": [AMOUNT, None]}, 5]}, {"<": [{"-": [WEIGHT, AMOUNT]}, 0]},
        {"<": [0, AMOUNT, None]}, {"<": [-5, WEIGHT, None]}, {"<=": [WEIGHT, 0, AMOUNT]},
        {"==": [{"??": [WEIGHT, 1]}, 1]}, {">": [{"??": [WEIGHT, AMOUNT, 10]}, 4]},
        {"==": [{"??": [WEIGHT, None]}, None]}, {"!": {"??": [{"var": "data.urgent"}, WEIGHT]}},
        {">=": [{"val": "amount"}, 5]}, {">": [{"val": ["data", "weight"]}, 2]},
        {"==": [{"val": ["data", "incoterm"]}, "FOB"]}, {"in": [True, INCOTERM]},
        {"==": [{"cat": [INCOTERM, True]}, "FOBtrue"]}, {"in": [{"cat": [True]}, INCOTERM]},
    ]
    assert check(db, rows, rules, table) == len(rules)


def test_exists_runs_on_events_only():
    with pytest.raises(NotCompilable):
        compile_condition({"exists": ["data", "weight"]}, CATALOGUE, sales_order.c, CTX)
