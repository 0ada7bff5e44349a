"""Each fact's Python rendering equals its SQL rendering, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_db import insert_orders, sales_order
from sqlalchemy import select

from engine.calendar import BusinessCalendar
from engine.facts import (
    Catalogue,
    FactContext,
    FactType,
    build_facts,
    default_catalogue,
    fact_sql,
    fact_type_for_form_field,
)

NOW = datetime(2026, 11, 26, 7, 30, 15, tzinfo=UTC)  # Thursday 15:30 in Shanghai
CAL = BusinessCalendar(holidays=frozenset({date(2026, 11, 20)}), extra_working_days=frozenset({date(2026, 11, 22)}))
CTX = FactContext(now=NOW, calendar=CAL)
CATALOGUE = default_catalogue().with_designed(
    [("weight", "number"), ("incoterm", "string"), ("ship_by", "date"), ("urgent", "bool"), ("labels", "list")]
)
DERIVED = [name for name, spec in CATALOGUE.fields.items() if spec.source == "derived"]


def order(i: int, **values) -> dict:
    row = {"id": i, "number": f"SO-{i}", "stage": "approval", "status": "open", "data": {}}
    row.update(values)
    return row


FIXTURES = [
    order(1, stage_entered_at=NOW - timedelta(hours=30), created_at=NOW - timedelta(days=3, seconds=1)),
    order(2, stage_entered_at=NOW, created_at=NOW, planned_delivery=date(2026, 11, 29), payment_due=date(2026, 11, 1)),
    order(3, stage_entered_at=NOW + timedelta(hours=2), created_at=NOW + timedelta(seconds=5)),
    order(4, stage_entered_at=NOW - timedelta(days=400), created_at=NOW - timedelta(days=400)),
    order(5, last_customer_contact_at=NOW - timedelta(minutes=90) + timedelta(microseconds=999_500), amount=Decimal("123.45")),
    order(6, planned_delivery=date(2026, 11, 26), payment_due=date(2026, 12, 31), urge_count=3),
    order(7, data={"weight": 12.5, "incoterm": "FOB", "ship_by": "2026-12-01", "urgent": True, "labels": ["a"]}),
    order(8, data={"weight": "12", "incoterm": 5, "ship_by": None, "urgent": "yes", "labels": "a"}),
    order(9, stage_entered_at=datetime(2026, 11, 21, 23, 59, 59, tzinfo=UTC), created_at=NOW - timedelta(hours=23)),
    # signed by the logistics feed: a day and a second ago, an hour ago, a minute in the future (clock skew)
    order(10, signed_at=NOW - timedelta(days=1, seconds=1)),
    order(11, signed_at=NOW - timedelta(minutes=60)),
    order(12, signed_at=NOW + timedelta(seconds=60)),
]


def sql_values(engine, names, ctx=CTX):
    columns = sales_order.c
    query = select(sales_order.c.id, *[fact_sql(n, columns, CATALOGUE, ctx).label(n.replace(".", "_")) for n in names])
    with engine.connect() as conn:
        return {row[0]: dict(zip(names, row[1:], strict=True)) for row in conn.execute(query.order_by(sales_order.c.id))}


def python_value(facts, name):
    if name.startswith("data."):
        return facts["data"][name.removeprefix("data.")]
    return facts[name]


class TestRenderingsAgree:
    def test_derived_facts_equal_on_fixtures(self, db):
        insert_orders(db, FIXTURES)
        got = sql_values(db, DERIVED)
        for row in FIXTURES:
            facts = build_facts(row, CATALOGUE, CTX)
            for name in DERIVED:
                assert got[row["id"]][name] == python_value(facts, name), (row["id"], name)

    def test_designed_fields_read_with_their_type(self, db):
        insert_orders(db, FIXTURES)
        names = ["data.weight", "data.incoterm", "data.ship_by", "data.urgent"]
        got = sql_values(db, names)
        assert got[7] == {"data.weight": 12.5, "data.incoterm": "FOB", "data.ship_by": "2026-12-01", "data.urgent": True}
        assert got[8] == dict.fromkeys(names)
        for row in FIXTURES:
            facts = build_facts(row, CATALOGUE, CTX)
            for name in names:
                assert got[row["id"]][name] == python_value(facts, name)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        offsets=st.lists(st.integers(min_value=-3600 * 24 * 10, max_value=3600 * 24 * 250), min_size=1, max_size=8),
        now_shift=st.integers(min_value=0, max_value=3600 * 24 * 14),
    )
    def test_time_facts_equal_for_generated_moments(self, db, offsets, now_shift):
        now = NOW + timedelta(seconds=now_shift)
        ctx = FactContext(now=now, calendar=CAL, working_hours_lookback_days=120)
        rows = [
            order(
                i,
                stage_entered_at=now - timedelta(seconds=off),
                created_at=now - timedelta(seconds=off * 3),
                last_customer_contact_at=now - timedelta(seconds=off // 2),
                signed_at=now - timedelta(seconds=off * 2 + 7),
                planned_delivery=(now - timedelta(seconds=off)).date(),
            )
            for i, off in enumerate(offsets, start=1)
        ]
        insert_orders(db, rows)
        got = sql_values(db, DERIVED, ctx)
        for row in rows:
            facts = build_facts(row, CATALOGUE, ctx)
            for name in DERIVED:
                assert got[row["id"]][name] == python_value(facts, name), (name, row, now)


class TestPythonRendering:
    def test_known_values(self):
        facts = {r["id"]: build_facts(r, CATALOGUE, CTX) for r in FIXTURES}
        assert facts[1]["hours_in_stage"] == 30.0
        assert facts[1]["days_since_created"] == 3.0
        assert facts[2]["days_until_planned_delivery"] == 3.0
        assert facts[2]["days_overdue_payment_due"] == 25.0
        assert facts[2]["days_overdue_planned_delivery"] == 0.0
        assert facts[3]["days_since_created"] == -1.0  # floor, not truncation
        assert facts[3]["working_hours_in_stage"] == 0.0
        assert facts[5]["amount"] == 123.45
        assert facts[5]["hours_since_last_customer_contact"] == 1.5
        assert facts[6]["days_until_planned_delivery"] == 0.0
        assert facts[1]["stage_entered_at"] == "2026-11-25T01:30:15+00:00"
        assert facts[6]["planned_delivery"] == "2026-11-26"
        assert facts[4]["payment_due"] is None and facts[4]["days_until_payment_due"] is None
        assert facts[10]["days_since_signed"] == 1.0 and facts[10]["hours_since_signed"] == 24 + 1 / 3600
        assert facts[11]["days_since_signed"] == 0.0 and facts[11]["hours_since_signed"] == 1.0
        assert facts[12]["days_since_signed"] == -1.0  # floor, not truncation
        assert facts[1]["days_since_signed"] is None and facts[1]["signed_at"] is None  # not signed yet

    def test_working_hours_skip_nights_weekends_and_holidays(self):
        # entered Thursday 2026-11-19 09:00 Shanghai; Fri 20th is a holiday, Sun 22nd a working day.
        entered = datetime(2026, 11, 19, 1, 0, tzinfo=UTC)
        facts = build_facts(order(1, stage_entered_at=entered), CATALOGUE, CTX)
        # Thu 19: 8, Sun 22: 8, Mon-Wed 23-25: 24, Thu 26 09:00-15:30: 5.5 (lunch 12-13 excluded)
        assert facts["working_hours_in_stage"] == 8 + 8 + 24 + 5.5 + 15 / 3600

    def test_working_hours_clamped_to_lookback(self):
        ctx = FactContext(now=NOW, calendar=BusinessCalendar(), working_hours_lookback_days=7)
        old = build_facts(order(1, stage_entered_at=NOW - timedelta(days=300)), CATALOGUE, ctx)
        week = build_facts(order(1, stage_entered_at=NOW - timedelta(days=7)), CATALOGUE, ctx)
        assert old["working_hours_in_stage"] == week["working_hours_in_stage"] == 40.0


class TestCatalogue:
    def test_designed_keys_must_be_identifiers(self):
        with pytest.raises(ValueError, match="facts.bad_designed_key"):
            default_catalogue().with_designed([("x'; drop table", "string")])

    def test_unknown_fact_never_reaches_sql(self):
        with pytest.raises(KeyError):
            fact_sql("data.nope", sales_order.c, CATALOGUE, CTX)

    def test_types_for_validator(self):
        types = CATALOGUE.types()
        assert types["amount"] == "number" and types["data.ship_by"] == "date"
        assert isinstance(CATALOGUE, Catalogue)

    def test_form_field_types(self):
        assert fact_type_for_form_field("money") is FactType.NUMBER
        assert fact_type_for_form_field("long_text") is FactType.STRING
        assert fact_type_for_form_field("multi_select") is FactType.LIST
        assert fact_type_for_form_field("attachment") is None

    def test_naive_now_rejected(self):
        with pytest.raises(ValueError, match="facts.naive_now"):
            FactContext(now=datetime(2026, 1, 1))


class TestSqlCaching:
    def test_designed_fields_of_different_types_never_share_cached_sql(self, db):
        """JsonValue renders by field type; SQLAlchemy's statement cache must not mix two of them."""
        insert_orders(db, [order(1, data={"weight": 0.5}), order(2, data={"incoterm": "FOB"})])
        with db.connect() as conn:
            for name, expected in [("data.incoterm", {2}), ("data.weight", {1}), ("data.urgent", set())] * 2:
                query = select(sales_order.c.id).where(fact_sql(name, sales_order.c, CATALOGUE, CTX).is_not(None))
                assert set(conn.scalars(query)) == expected, name


class TestWorkingTimeIndex:
    @settings(max_examples=300, deadline=None)
    @given(
        offset=st.integers(min_value=-3600 * 24 * 3, max_value=3600 * 24 * 200),
        now_shift=st.integers(min_value=0, max_value=3600 * 24 * 30),
    )
    def test_equals_calendar_working_hours_between(self, offset, now_shift):
        from engine.facts.catalogue import derived_of_source, epoch_seconds, reference_working_hours

        ctx = FactContext(now=NOW + timedelta(seconds=now_shift), calendar=CAL, working_hours_lookback_days=120)
        source = epoch_seconds(ctx.now) - offset
        assert derived_of_source("working_hours_in_stage", source, ctx) == reference_working_hours(source, ctx)
