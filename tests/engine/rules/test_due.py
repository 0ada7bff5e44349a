"""Due moments (engine/rules/due.py): which conditions are indexable, and the moment each becomes
true, held to the facts' own definition (true at the moment, false one second / one day before)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from engine.calendar import BusinessCalendar
from engine.facts import FactContext, build_facts, default_catalogue
from engine.facts.catalogue import derived_value
from engine.jsonlogic import matches
from engine.rules.due import NEVER, SCAN, due_from_source, due_moment, plan_due

CAT = default_catalogue()
NOW = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)  # Friday 16:30 in Shanghai


def ctx_at(moment: datetime, calendar: BusinessCalendar | None = None) -> FactContext:
    return FactContext(now=moment, calendar=calendar or BusinessCalendar())


def test_indexable_conditions():
    assert plan_due({">": [{"var": "working_hours_in_stage"}, 24]}).term.fact == "working_hours_in_stage"
    flipped = plan_due({">=": [3, {"var": "days_until_payment_due"}]})
    assert (flipped.term.op, flipped.term.value) == ("<=", 3.0)
    both = plan_due({"and": [{"==": [{"var": "stage"}, "production"]}, {">=": [{"var": "days_since_signed"}, 1]}]})
    assert both.rest == ({"==": [{"var": "stage"}, "production"]},)
    # not indexable: no time term, two time terms, a term that ends by itself, equality,
    # an `or`, a time fact or a relative date among the other terms
    for condition in (
        {"==": [{"var": "stage"}, "production"]},
        {"and": [{">": [{"var": "hours_in_stage"}, 1]}, {">": [{"var": "days_since_created"}, 3]}]},
        {"<": [{"var": "hours_in_stage"}, 24]},
        {">": [{"var": "days_until_payment_due"}, 3]},
        {"==": [{"var": "days_since_signed"}, 1]},
        {"or": [{">": [{"var": "hours_in_stage"}, 1]}, {"==": [{"var": "stage"}, "x"]}]},
        {"and": [{">": [{"var": "hours_in_stage"}, 1]}, {"<": [{"var": "planned_delivery"}, {"today": [0]}]}]},
        {"and": [{">": [{"var": "hours_in_stage"}, 1]}, {"!": {"var": "hours_since_signed"}}]},
        # facts that move while the order stays as it is: stall_ratio grows with time in stage,
        # the worker rewrites predictions and stored scores without an order change
        {"and": [{">": [{"var": "hours_in_stage"}, 24]}, {">": [{"var": "stall_ratio"}, 1.5]}]},
        {"and": [{">": [{"var": "hours_in_stage"}, 24]}, {">=": [{"var": "delay_probability"}, 0.5]}]},
        {"and": [{">": [{"var": "days_since_created"}, 2]}, {">": [{"var": "predicted_days_late"}, 0]}]},
        {"and": [{">": [{"var": "hours_in_stage"}, 24]}, {">=": [{"var": "priority_score"}, 80]}]},
        {"and": [{">": [{"var": "hours_in_stage"}, 24]}, {"<": [{"var": "customer_on_time_rate"}, 0.9]}]},
    ):
        assert plan_due(condition) is None, condition


def _holds(term_condition, order, moment, calendar=None):
    ctx = ctx_at(moment, calendar)
    return matches(term_condition, build_facts(order, CAT, ctx))


@pytest.mark.parametrize("condition, column", [
    ({">": [{"var": "hours_in_stage"}, 24]}, "stage_entered_at"),
    ({">=": [{"var": "hours_in_stage"}, 0.5]}, "stage_entered_at"),
    ({">=": [{"var": "days_since_signed"}, 1]}, "signed_at"),
    ({">": [{"var": "days_since_created"}, 2]}, "created_at"),
    ({">": [{"var": "hours_since_last_customer_contact"}, 72]}, "last_customer_contact_at"),
    ({"<=": [{"var": "days_until_payment_due"}, 3]}, "payment_due"),
    ({"<": [{"var": "days_until_planned_delivery"}, 0]}, "planned_delivery"),
    ({">": [{"var": "days_overdue_payment_due"}, 2]}, "payment_due"),
    ({">": [{"var": "working_hours_in_stage"}, 24]}, "stage_entered_at"),
    ({">=": [{"var": "working_hours_in_stage"}, 8]}, "stage_entered_at"),
])
def test_due_moment_is_exact(condition, column):
    plan = plan_due(condition)
    rng = random.Random(7)
    for _ in range(40):
        if column in ("payment_due", "planned_delivery"):
            source = (NOW + timedelta(days=rng.randint(-10, 20))).date()
        else:
            source = NOW - timedelta(seconds=rng.randint(-3 * 86400, 4 * 86400), microseconds=rng.randint(0, 999999))
        order = {column: source, "status": "open"}
        due = due_moment(plan, order, CAT, ctx_at(NOW))
        assert due.kind == "at", (source, due)
        assert _holds(condition, order, due.at)
        if due.at > NOW:
            step = timedelta(days=1) if column in ("payment_due", "planned_delivery") else timedelta(seconds=1)
            if column in ("payment_due", "planned_delivery"):
                assert due.at.astimezone(BusinessCalendar().zone).time() == datetime.min.time()
            assert not _holds(condition, order, due.at - (step if step.days else timedelta(seconds=1)))
        else:
            assert due.at == NOW


def test_working_hours_across_a_weekend_and_a_holiday():
    """24 working hours from Friday 16:00 (Shanghai, 9-12 and 13-18): Friday 2 h, Monday is a
    holiday, Tuesday 8 h, Wednesday 8 h, Thursday 6 h (9-12, 13-16) → one second after Thursday 16:00 it is
    more than 24."""
    calendar = BusinessCalendar(holidays=frozenset({date(2026, 12, 7)}))
    entered = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)  # Fri 16:00 local
    plan = plan_due({">": [{"var": "working_hours_in_stage"}, 24]})
    due = due_moment(plan, {"stage_entered_at": entered}, CAT, ctx_at(NOW, calendar))
    assert due.at == datetime(2026, 12, 10, 8, 0, 1, tzinfo=UTC)  # Thu 16:00:01 local
    ctx = ctx_at(due.at, calendar)
    assert derived_value("working_hours_in_stage", {"stage_entered_at": entered}, ctx) > 24
    before = ctx_at(due.at - timedelta(seconds=1), calendar)
    assert derived_value("working_hours_in_stage", {"stage_entered_at": entered}, before) == 24
    # `>=` is due on the second itself
    at_least = plan_due({">=": [{"var": "working_hours_in_stage"}, 24]})
    assert due_moment(at_least, {"stage_entered_at": entered}, CAT, ctx_at(NOW, calendar)).at == \
        datetime(2026, 12, 10, 8, 0, 0, tzinfo=UTC)


def test_other_terms_and_empty_sources():
    plan = plan_due({"and": [{"==": [{"var": "stage"}, "production"]}, {">": [{"var": "hours_in_stage"}, 24]}]})
    entered = NOW - timedelta(hours=2)
    assert due_moment(plan, {"stage": "approval", "stage_entered_at": entered}, CAT, ctx_at(NOW)) == NEVER
    due = due_moment(plan, {"stage": "production", "stage_entered_at": entered}, CAT, ctx_at(NOW))
    assert due.at == entered.replace(microsecond=0) + timedelta(hours=24, seconds=1)
    # already true: due now; no source: null stays null (null > 24 is false: never)
    old = {"stage": "production", "stage_entered_at": NOW - timedelta(days=3)}
    assert due_moment(plan, old, CAT, ctx_at(NOW)).at == NOW
    assert due_moment(plan, {"stage": "production"}, CAT, ctx_at(NOW)) == NEVER
    # null <= 3 is true in JavaScript: an order without a payment date matches at once
    assert due_from_source(plan_due({"<=": [{"var": "days_until_payment_due"}, 3]}).term, None,
                           ctx_at(NOW)).at == NOW


def test_past_the_look_back_window_is_left_to_the_scan():
    plan = plan_due({">": [{"var": "working_hours_in_stage"}, 5000]})
    assert due_moment(plan, {"stage_entered_at": NOW - timedelta(days=1)}, CAT, ctx_at(NOW)) == SCAN
    never = plan_due({">": [{"var": "hours_in_stage"}, 1e15]})
    assert due_moment(never, {"stage_entered_at": NOW}, CAT, ctx_at(NOW)) == NEVER
