"""Designed fields read once per order (engine/rules/hoist.py): the hoisted conditions select the
same orders as the compiled ones, and each JSON field is read once, not once per rule."""

from __future__ import annotations

import pytest
from rules_db import insert_orders, sales_order
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from test_compiler_differential import CATALOGUE, CTX

from engine.rules.compiler import compile_condition
from engine.rules.hoist import hoist_json

CONDITIONS = [
    {">": [{"var": "data.weight"}, 10]},
    {"and": [{">": [{"var": "data.weight"}, 5]}, {"==": [{"var": "stage"}, "shipping"]}]},
    {"==": [{"var": "data.incoterm"}, "FOB"]},
    {"!=": [{"var": "data.incoterm"}, "FOB"]},
    {"or": [{"<": [{"var": "data.weight"}, 2]}, {"in": [{"var": "data.incoterm"}, ["CIF", "EXW"]]}]},
    {">": [{"var": "amount"}, 500]},
]
ROWS = [{"id": i, "number": f"SO-{i}", "status": "open" if i % 5 else "closed", "stage": stage, "amount": 100 * i,
         "data": data}
        for i, (stage, data) in enumerate([
            ("shipping", {"weight": 12, "incoterm": "FOB"}), ("shipping", {"weight": 6}), ("draft", {"weight": "12"}),
            ("draft", {"incoterm": "CIF"}), ("shipping", {"weight": 1.5, "incoterm": "EXW"}), ("draft", {}),
            ("shipping", {"weight": None, "incoterm": 3}), ("approval", {"weight": 30, "incoterm": "fob"}),
        ], start=1)]


def compiled():
    return [compile_condition(c, CATALOGUE, sales_order.c, CTX) for c in CONDITIONS]


def test_hoisted_conditions_select_the_same_orders(db):
    if db.dialect.name != "postgresql":
        pytest.skip("the scan hoists on PostgreSQL only")
    insert_orders(db, ROWS)
    where = sales_order.c.status == "open"
    table, hoisted = hoist_json(sales_order, compiled(), where)
    with db.connect() as conn:
        plain = conn.execute(select(*[func.count().filter(c) for c in compiled()]).where(where)).one()
        lifted = conn.execute(select(*[func.count().filter(c) for c in hoisted]).select_from(table)).one()
    assert list(lifted) == list(plain) and any(plain)


def _sql(statement) -> str:
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def test_each_designed_field_is_read_once_however_many_rules_read_it():
    def reads(times: int) -> tuple[str, str]:
        conditions = compiled() * times
        table, hoisted = hoist_json(sales_order, conditions, sales_order.c.status == "open")
        return (_sql(select(*[func.count().filter(c) for c in conditions])),
                _sql(select(*[func.count().filter(c) for c in hoisted]).select_from(table)))

    (plain_1, hoisted_1), (plain_5, hoisted_5) = reads(1), reads(5)
    assert plain_5.count("'weight'") == 5 * plain_1.count("'weight'")  # compiled alone, every rule reads again
    for field in ("'weight'", "'incoterm'"):
        assert 0 < hoisted_5.count(field) == hoisted_1.count(field) < plain_1.count(field)
    assert "clock_timestamp()" in hoisted_1
