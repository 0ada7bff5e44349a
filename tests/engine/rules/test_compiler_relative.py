"""Field against field and relative dates (`{"today": [-3]}`, `{"now": [-2, "hours"]}`): the SQL the
scan runs selects exactly the orders the evaluator matches, on SQLite and PostgreSQL.

The evaluator sees a relative date resolved to a constant (engine/rules/relative.py); so does the
compiler. Orders are generated around the moment of evaluation (local midnight, weekends, invalid
and wrongly-typed designed dates, datetimes with and without microseconds).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_db import insert_orders, sales_order, sales_order_json
from sqlalchemy import select

from engine.calendar import BusinessCalendar
from engine.facts import FactContext, build_facts, default_catalogue
from engine.jsonlogic import matches
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.relative import relative_issues, relative_value, resolve
from engine.rules.validate import comparison_issues

# a Monday, 07:30 UTC = 15:30 Shanghai; also Saturday night UTC = Sunday morning Shanghai
MOMENTS = [datetime(2026, 11, 30, 7, 30, tzinfo=UTC), datetime(2026, 11, 28, 17, 0, 5, tzinfo=UTC)]
CATALOGUE = default_catalogue().with_designed(
    [("expected_completion", "date"), ("production_done_on", "date"), ("weight", "number"), ("carrier", "string")]
)
DATE_FIELDS = ["planned_delivery", "payment_due", "data.expected_completion", "data.production_done_on"]
DATETIME_FIELDS = ["stage_entered_at", "created_at", "closed_at", "last_customer_contact_at"]
NUMBER_FIELDS = ["amount", "urge_count", "data.weight", "days_until_planned_delivery", "hours_in_stage"]
STRING_FIELDS = ["stage", "currency", "data.carrier"]
OPS = ["<", "<=", ">", ">=", "==", "!="]


def var(name):
    return {"var": name}


def dates_near(day: date) -> list[date]:
    return [day + timedelta(days=k) for k in (-12, -8, -4, -3, -2, -1, 0, 1, 2, 3, 5, 9)]


def moments_near(now: datetime) -> list[datetime]:
    out = [now + timedelta(hours=h) for h in (-100, -72, -49, -48, -47, -24, -3, 0, 1, 30)]
    return out + [now - timedelta(days=2, microseconds=250_000), now - timedelta(days=2) + timedelta(microseconds=1)]


def rows_for(draw, now: datetime, count: int):
    today = now.date()
    day = st.one_of(st.none(), st.sampled_from(dates_near(today)))
    text_day = st.one_of(st.none(), day.map(lambda d: d and d.isoformat()),
                         st.sampled_from(["2026-02-30", "2026-1-1", "", "soon", 20261130]))
    moment = st.one_of(st.none(), st.sampled_from(moments_near(now)))
    rows = []
    for i in range(1, count + 1):
        data = {}
        for key, strategy in (("expected_completion", text_day), ("production_done_on", text_day),
                              ("weight", st.one_of(st.none(), st.integers(0, 5), st.just("3"))),
                              ("carrier", st.one_of(st.none(), st.sampled_from(["SF", "EMS", "", "5"])))):
            if draw(st.booleans()):
                data[key] = draw(strategy)
        rows.append({
            "id": i, "number": f"REL-{i}", "status": "open",
            "stage": draw(st.sampled_from(["approval", "production", "", None])),
            "currency": draw(st.sampled_from(["CNY", "5", None])),
            "amount": draw(st.one_of(st.none(), st.sampled_from([Decimal("0"), Decimal("3"), Decimal("5.50")]))),
            "urge_count": draw(st.one_of(st.none(), st.integers(0, 5))),
            "planned_delivery": draw(day), "payment_due": draw(day),
            "stage_entered_at": draw(moment), "created_at": draw(moment) or now - timedelta(days=30),
            "closed_at": draw(moment), "last_customer_contact_at": draw(moment),
            "data": data,
        })
    return rows


relative = st.one_of(
    st.tuples(st.integers(-10, 10), st.sampled_from(["days", "working_days"])).map(lambda t: {"today": list(t)}),
    st.integers(-5, 5).map(lambda n: {"today": [n]}),
)
relative_now = st.tuples(st.integers(-80, 80), st.just("hours")).map(lambda t: {"now": list(t)}) | \
    st.integers(-5, 5).map(lambda n: {"now": [n, "days"]})


def pair(fields):
    return st.tuples(st.sampled_from(fields), st.sampled_from(fields)).map(lambda t: (var(t[0]), var(t[1])))


comparisons = st.one_of(
    # field against field, same type
    st.tuples(st.sampled_from(OPS), pair(DATE_FIELDS)).map(lambda t: {t[0]: list(t[1])}),
    st.tuples(st.sampled_from(OPS), pair(NUMBER_FIELDS)).map(lambda t: {t[0]: list(t[1])}),
    st.tuples(st.sampled_from(OPS), pair(DATETIME_FIELDS)).map(lambda t: {t[0]: list(t[1])}),
    # text fields only for (in)equality: `null < "x"` has no SQL twin (docs/rules.md)
    st.tuples(st.sampled_from(["==", "!="]), pair(STRING_FIELDS)).map(lambda t: {t[0]: list(t[1])}),
    # a date field against a relative date, either side
    st.tuples(st.sampled_from(OPS), st.sampled_from(DATE_FIELDS), relative, st.booleans()).map(
        lambda t: {t[0]: [var(t[1]), t[2]][:: 1 if t[3] else -1]}),
    st.tuples(st.sampled_from(OPS), st.sampled_from(DATETIME_FIELDS), relative_now, st.booleans()).map(
        lambda t: {t[0]: [var(t[1]), t[2]][:: 1 if t[3] else -1]}),
    # "within the last N days": N days ago <= field <= today
    st.tuples(st.sampled_from(DATE_FIELDS), st.integers(0, 9)).map(
        lambda t: {"<=": [{"today": [-t[1]]}, var(t[0]), {"today": [0]}]}),
    st.tuples(st.sampled_from(DATETIME_FIELDS), st.integers(0, 72)).map(
        lambda t: {"<=": [{"now": [-t[1], "hours"]}, var(t[0]), {"now": []}]}),
)
conditions = st.recursive(comparisons, lambda xs: st.one_of(
    st.lists(xs, min_size=1, max_size=3).map(lambda v: {"and": v}),
    st.lists(xs, min_size=1, max_size=3).map(lambda v: {"or": v}),
    xs.map(lambda x: {"!": [x]})), max_leaves=4)


def check(engine, rows, condition_list, ctx, table=sales_order) -> int:
    insert_orders(engine, rows, table)
    compiled = 0
    for condition in condition_list:
        try:
            sql = compile_condition(condition, CATALOGUE, table.c, ctx)
        except NotCompilable as exc:
            # every comparison here has a SQL twin: a refusal is a bug
            raise AssertionError({"condition": condition, "refused": exc.code}) from exc
        compiled += 1
        with engine.connect() as conn:
            sql_ids = set(conn.scalars(select(table.c.id).where(sql)))
        resolved = resolve(condition, ctx)
        python_ids = {row["id"] for row in rows if matches(resolved, build_facts(row, CATALOGUE, ctx))}
        assert sql_ids == python_ids, {"condition": condition, "sql_only": sql_ids - python_ids,
                                       "python_only": python_ids - sql_ids}
    return compiled


@settings(max_examples=int(os.environ.get("GENDAN_DIFF_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), condition_list=st.lists(conditions, min_size=1, max_size=8), which=st.sampled_from([0, 1]))
def test_field_against_field_and_relative_dates_agree(db, data, condition_list, which):
    now = MOMENTS[which]
    rows = rows_for(data.draw, now, 12)
    assert check(db, rows, condition_list, FactContext(now=now, calendar=BusinessCalendar())) == len(condition_list)


@pytest.mark.parametrize("table", [sales_order, sales_order_json], ids=["jsonb", "json"])
def test_planned_delivery_before_expected_completion(db, table):
    """The classic delay-risk comparison: a core date against a designed date."""
    now = MOMENTS[0]
    rows = [{"id": i, "number": f"REL-{i}", "status": "open", "planned_delivery": pd, "data": data}
            for i, (pd, data) in enumerate([
                (date(2026, 12, 1), {"expected_completion": "2026-12-05"}),  # late: matches
                (date(2026, 12, 9), {"expected_completion": "2026-12-05"}),
                (date(2026, 12, 5), {"expected_completion": "2026-12-05"}),
                (None, {"expected_completion": "2026-12-05"}),
                (date(2026, 12, 1), {}),
                (date(2026, 12, 1), {"expected_completion": 5}),
            ], start=1)]
    condition = {"<": [var("planned_delivery"), var("data.expected_completion")]}
    ctx = FactContext(now=now)
    assert check(db, rows, [condition], ctx, table) == 1
    with db.connect() as conn:
        assert set(conn.scalars(select(table.c.id).where(compile_condition(condition, CATALOGUE, table.c, ctx)))) == {1}


class TestRelativeValue:
    def test_days_and_working_days_count_from_the_local_date(self):
        # Monday 2026-11-30 in Shanghai
        ctx = FactContext(now=MOMENTS[0])
        assert relative_value("today", [-3], ctx) == "2026-11-27"
        assert relative_value("today", [-1, "working_days"], ctx) == "2026-11-27"  # Friday
        assert relative_value("today", [-3, "working_days"], ctx) == "2026-11-25"
        assert relative_value("today", [2, "working_days"], ctx) == "2026-12-02"
        # 2026-11-28 17:00 UTC is Sunday 01:00 in Shanghai
        assert relative_value("today", [0], FactContext(now=MOMENTS[1])) == "2026-11-29"

    def test_now_is_a_utc_moment_in_whole_seconds(self):
        ctx = FactContext(now=MOMENTS[1] + timedelta(microseconds=7))
        assert relative_value("now", [-2, "hours"], ctx) == "2026-11-28T15:00:05+00:00"
        assert relative_value("now", [-1], ctx) == "2026-11-27T17:00:05+00:00"

    @pytest.mark.parametrize("node, code", [
        ({"today": [-3651]}, "rule.relative_date_out_of_range"),
        ({"today": [10**12, "days"]}, "rule.relative_date_out_of_range"),
        ({"today": [-2601, "working_days"]}, "rule.relative_date_out_of_range"),
        ({"today": ["3"]}, "rule.relative_date_invalid"),
        ({"today": [1.5]}, "rule.relative_date_invalid"),
        ({"today": [True]}, "rule.relative_date_invalid"),
        ({"today": [1, "weeks"]}, "rule.relative_date_invalid"),
        ({"now": [1, "working_days"]}, "rule.relative_date_invalid"),
        ({"today": [1, "days", 3]}, "rule.relative_date_invalid"),
    ])
    def test_absurd_offsets_are_issues_not_errors(self, node, code):
        condition = {"and": [{"<": [var("planned_delivery"), node]}]}
        issues = relative_issues(condition)
        assert [(i.path, i.code) for i in issues] == [(f"condition.and.0.<.1.{next(iter(node))}", code)]
        with pytest.raises(NotCompilable):
            compile_condition(condition, CATALOGUE, sales_order.c, FactContext(now=MOMENTS[0]))


class TestComparisonTypes:
    @pytest.mark.parametrize("condition", [
        {"<": [var("planned_delivery"), var("amount")]},
        {"==": [var("data.expected_completion"), var("created_at")]},
        {">": [var("stage"), var("urge_count")]},
        {"==": [var("tags"), var("tags")]},
        {"<": [var("amount"), {"today": [-3]}]},
        {"<": [var("created_at"), {"today": [-3]}]},
        {"<": [var("planned_delivery"), {"now": [-3]}]},
    ])
    def test_incompatible_pairs_are_named(self, condition):
        issues = comparison_issues(condition, CATALOGUE)
        assert [i.code for i in issues] == ["rule.compare_types_incompatible"]

    @pytest.mark.parametrize("condition", [
        {"<": [var("planned_delivery"), var("data.expected_completion")]},
        {"<": [var("amount"), var("data.weight")]},
        {"<": [var("created_at"), var("stage_entered_at")]},
        {"<=": [{"today": [-3]}, var("data.production_done_on"), {"today": []}]},
        {"<": [var("stage_entered_at"), {"now": [-2, "hours"]}]},
    ])
    def test_compatible_pairs_pass(self, condition):
        assert comparison_issues(condition, CATALOGUE) == []
