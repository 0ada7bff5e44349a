"""Foresight's facts: the Python and SQL renderings agree (SQLite and PostgreSQL), and the compiled
delay-risk conditions select exactly the orders the evaluator matches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rules_db import insert_orders, sales_order
from sqlalchemy import select

from engine.facts import FactContext, build_facts, default_catalogue, fact_sql
from engine.jsonlogic import matches
from engine.rules.classics import classic_rule
from engine.rules.compiler import compile_condition

NOW = datetime(2026, 11, 26, 7, 30, 15, tzinfo=UTC)
CTX = FactContext(now=NOW)
CATALOGUE = default_catalogue()
NAMES = ["predicted_stage_done_at", "predicted_completion_at", "delay_probability", "stage_p90_hours",
         "stall_ratio", "predicted_days_late"]


def order(i, **values):
    row = {"id": i, "number": f"FS-{i}", "stage": "production", "status": "open", "data": {},
           "stage_entered_at": NOW - timedelta(hours=30), "created_at": NOW - timedelta(days=4)}
    row.update(values)
    return row


FIXTURES = [
    order(1),  # never scored: every fact is None
    order(2, stage_p90_hours=48.0, delay_probability=0.8, planned_delivery=date(2026, 11, 27),
          predicted_completion_at=datetime(2026, 11, 28, 0, 0, 0, tzinfo=UTC),
          predicted_stage_done_at=NOW + timedelta(hours=3)),
    order(3, stage_p90_hours=0.0, planned_delivery=date(2026, 11, 30),
          predicted_completion_at=datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)),  # early by a day
    order(4, stage_p90_hours=7.25, delay_probability=0.05, planned_delivery=date(2026, 11, 26),
          predicted_completion_at=datetime(2026, 11, 26, 12, 0, 0, 500_000, tzinfo=UTC)),  # on the day
    order(5, stage_p90_hours=-3.0, predicted_completion_at=datetime(2026, 12, 9, 1, tzinfo=UTC)),  # no planned
    order(6, stage_entered_at=NOW + timedelta(hours=5), stage_p90_hours=10.0, planned_delivery=date(2026, 11, 1),
          predicted_completion_at=datetime(2026, 10, 20, 5, tzinfo=UTC), delay_probability=0.5),
    order(7, stage_p90_hours=30.0, planned_delivery=date(2026, 11, 20),
          predicted_completion_at=datetime(2026, 11, 22, tzinfo=UTC), delay_probability=0.1),
]


def test_foresight_facts_are_in_the_catalogue_and_read_only():
    from engine.rules.validate import _READ_ONLY

    for name in NAMES:
        assert name in CATALOGUE
    assert CATALOGUE["stall_ratio"].source == "derived"
    assert {"predicted_completion_at", "delay_probability"} <= _READ_ONLY


def test_python_and_sql_renderings_agree(db):
    insert_orders(db, FIXTURES)
    query = select(sales_order.c.id, *[fact_sql(n, sales_order.c, CATALOGUE, CTX).label(n) for n in NAMES])
    with db.connect() as conn:
        got = {row[0]: dict(zip(NAMES, row[1:], strict=True)) for row in conn.execute(query)}
    for row in FIXTURES:
        facts = build_facts(row, CATALOGUE, CTX)
        for name in ("delay_probability", "stage_p90_hours", "stall_ratio", "predicted_days_late"):
            assert got[row["id"]][name] == facts[name], (row["id"], name)
    by_id = {r["id"]: build_facts(r, CATALOGUE, CTX) for r in FIXTURES}
    assert by_id[2]["stall_ratio"] == 30 / 48
    assert by_id[2]["predicted_days_late"] == 1.0
    assert by_id[3]["predicted_days_late"] == -1.0 and by_id[3]["stall_ratio"] is None
    assert by_id[4]["predicted_days_late"] == 0.0
    assert by_id[5]["predicted_days_late"] is None
    assert by_id[1]["predicted_completion_at"] is None


CONDITIONS = [
    {">": [{"var": "predicted_days_late"}, 0]},
    {">=": [{"var": "delay_probability"}, 0.5]},
    {">": [{"var": "stall_ratio"}, 1]},
    {"<=": [{"var": "stall_ratio"}, 0.5]},
    {"!": [{"var": "predicted_completion_at"}]},
    {">": [{"var": "predicted_completion_at"}, {"var": "predicted_stage_done_at"}]},
    classic_rule("delay_risk")["condition"],
]


def test_compiled_conditions_select_what_the_evaluator_matches(db):
    insert_orders(db, FIXTURES)
    for condition in CONDITIONS:
        where = compile_condition(condition, CATALOGUE, sales_order.c, CTX)
        with db.connect() as conn:
            got = set(conn.execute(select(sales_order.c.id).where(where)).scalars())
        want = {r["id"] for r in FIXTURES if matches(condition, build_facts(r, CATALOGUE, CTX))}
        assert got == want, condition


def test_the_classic_delay_risk_rule_flags_late_or_risky_orders():
    condition = classic_rule("delay_risk")["condition"]
    flagged = {r["id"] for r in FIXTURES if matches(condition, build_facts(r, CATALOGUE, CTX))}
    assert flagged == {2, 7}  # predicted a day late with 80%; two days late with 10%
