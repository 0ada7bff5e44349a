"""What-if replay in the engine: rebuilt timelines, event and time rules on a virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.calendar import BusinessCalendar
from engine.facts import default_catalogue
from engine.replay.diff import compare
from engine.replay.rules import OrderTimeline, replay
from engine.replay.timeline import LoggedEvent, rebuild
from engine.rules.definition import load_rule

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
START, END = T0 - timedelta(days=1), T0 + timedelta(days=28)
CAL = BusinessCalendar()
CATALOGUE = default_catalogue()


def rule(condition, *, key="r", time=False, todo_role="sales", mode="once_per_episode"):
    return load_rule({
        "key": key, "name": {"en": key},
        "trigger": {"kind": "time"} if time else {"kind": "event", "events": ["order_created", "field_changed"]},
        "condition": condition,
        "actions": [{"type": "create_todo", "assignee": {"kind": "role", "role": todo_role},
                     "title_template": {"en": "Look"}}],
        "firing": {"mode": mode},
    })


def order(order_id, amount, *, created=T0, events=(), stage="approval", status="open"):
    current = {"id": order_id, "number": f"SO-{order_id}", "amount": amount, "stage": stage, "status": status,
               "created_at": created, "data": {}, "urge_count": 0}
    logged = [LoggedEvent(created, "created", None, {"amount": str(amount), "stage": "approval", "status": "open",
                                                     "data": {}}), *events]
    return OrderTimeline(order_id, f"SO-{order_id}", tuple(rebuild(current, logged)))


def run(rules, orders):
    return replay(rules, orders, CATALOGUE, calendar=CAL, start=START, end=END)


def test_lowering_an_amount_threshold_fires_on_more_orders():
    orders = [order(1, 3000), order(2, 7000), order(3, 12000), order(4, 20000)]
    before = run([rule({">": [{"var": "amount"}, 10000]})], orders)
    after = run([rule({">": [{"var": "amount"}, 5000]})], orders)
    assert before.runs["r"].order_ids == {3, 4}
    assert after.runs["r"].order_ids == {2, 3, 4}
    [diff] = compare(before, after)
    assert diff.added == (2,) and diff.removed == ()
    assert diff.todos_before == {"role:sales": 2} and diff.todos_after == {"role:sales": 3}


def test_a_field_change_during_the_window_is_heard_at_its_moment():
    later = T0 + timedelta(days=3)
    o = order(1, 3000, events=[LoggedEvent(later, "updated", {"amount": "3000"}, {"amount": "8000"})])
    result = run([rule({">": [{"var": "amount"}, 5000]})], [o])
    [firing] = result.runs["r"].firings
    assert firing.at == later and firing.heard == "field_changed"


def test_a_time_threshold_change_moves_the_fire_moment():
    moved = T0 + timedelta(days=5)
    o = order(1, 100, events=[LoggedEvent(moved, "stage_entered", {"stage": "approval"}, {"stage": "production"})])
    before = run([rule({">": [{"var": "hours_in_stage"}, 48]}, time=True)], [o])
    after = run([rule({">": [{"var": "hours_in_stage"}, 24]}, time=True)], [o])
    first_before = before.runs["r"].firings[0].at
    first_after = after.runs["r"].firings[0].at
    assert first_before == T0 + timedelta(hours=48, seconds=1)
    assert first_after == T0 + timedelta(hours=24, seconds=1)
    # re-armed in the next stage: the condition was false in between (hours_in_stage restarts)
    assert [f.at for f in after.runs["r"].firings][1] == moved + timedelta(hours=24, seconds=1)
    [diff] = compare(before, after)
    assert diff.moved == ((1, first_before, first_after),)


def test_working_hours_fire_at_the_calendar_moment():
    result = run([rule({">=": [{"var": "working_hours_in_stage"}, 16]}, time=True)], [order(1, 1)])
    # Monday 09:00 Shanghai + 16 working hours (9-12, 13-18: 8 a day) = Tuesday 18:00 local
    assert result.runs["r"].firings[0].at == T0 + timedelta(days=1, hours=9)


def test_an_order_matching_at_the_start_is_the_baseline():
    old = order(1, 100, created=START - timedelta(days=10))
    result = run([rule({">": [{"var": "hours_in_stage"}, 24]}, time=True)], [old])
    assert result.runs["r"].firings == []


def test_a_closed_order_stops_matching_open_scope():
    closed = T0 + timedelta(hours=10)
    o = order(1, 100, status="completed", events=[
        LoggedEvent(closed, "updated", {"status": "open"}, {"status": "completed"})])
    result = run([rule({">": [{"var": "hours_in_stage"}, 24]}, time=True)], [o])
    assert result.runs["r"].firings == []


def test_days_facts_flip_at_local_midnight():
    o = order(1, 100)
    result = run([rule({">=": [{"var": "days_since_created"}, 3]}, time=True)], [o])
    assert result.runs["r"].firings[0].at == T0 + timedelta(days=3)


def test_a_rule_that_cannot_evaluate_is_reported_and_the_others_go_on():
    bad = rule({"some": [{"var": "tags"}, {"==": [{"var": ""}, {"var": "x"}]}]}, key="bad")
    good = rule({">": [{"var": "amount"}, 5000]}, key="good")
    orders = [order(1, 9000)]
    result = run([bad, good], orders)
    assert result.runs["good"].order_ids == {1}


def test_the_evaluation_budget_truncates():
    orders = [order(i, 9000) for i in range(1, 50)]
    result = replay([rule({">": [{"var": "amount"}, 5000]})], orders, CATALOGUE, calendar=CAL, start=START, end=END,
                    max_evaluations=10)
    assert result.truncated and result.orders < 49


def test_rebuild_undoes_changes_back_to_creation():
    later = T0 + timedelta(days=1)
    current = {"id": 1, "number": "SO-1", "amount": "9000", "stage": "production", "status": "open",
               "created_at": T0, "data": {"weight": 5}, "signed_at": T0 + timedelta(days=2)}
    steps = rebuild(current, [
        LoggedEvent(later, "stage_entered", {"stage": "approval"}, {"stage": "production"}),
        LoggedEvent(later, "updated", {"data.weight": None}, {"data.weight": 5}),
    ])
    assert steps[0].values["stage"] == "approval" and steps[0].values["data"] == {}
    assert steps[0].values["signed_at"] is None and steps[0].values["amount"] == 9000.0
    assert steps[1].values["stage_entered_at"] == later
    assert ("field_changed", {"data.weight"}) in steps[2].events


def test_days_until_planned_delivery_flips_at_the_local_midnight():
    current = {"id": 1, "number": "SO-1", "amount": 1, "stage": "production", "status": "open", "created_at": T0,
               "planned_delivery": "2026-11-10", "data": {}}
    o = OrderTimeline(1, "SO-1", tuple(rebuild(current, [])))
    due = rule({"and": [{"==": [{"var": "stage"}, "production"]}, {"<=": [{"var": "days_until_planned_delivery"}, 2]}]},
               time=True)
    past = rule({"<": [{"var": "planned_delivery"}, {"today": [-1]}]}, time=True, key="past")
    result = run([due, past], [o])
    shanghai_midnight = datetime(2026, 11, 7, 16, 0, tzinfo=UTC)  # 2026-11-08 00:00 local: 2 days before
    assert result.runs["r"].firings[0].at == shanghai_midnight
    # planned 11-10 < today - 1 from local 11-12 00:00 on
    assert result.runs["past"].firings[0].at == datetime(2026, 11, 11, 16, 0, tzinfo=UTC)


def brute_force_first(rule_def, o, step=timedelta(minutes=10)):
    """The first sampled moment the condition holds (no baseline: the order starts in the window)."""
    from engine.facts import FactContext, build_facts
    from engine.jsonlogic import matches
    from engine.rules.relative import resolve

    at = o.steps[0].at
    horizon = min(END, at + timedelta(days=14))
    while at < horizon:
        values = [s for s in o.steps if s.at <= at][-1].values
        # the orders are younger than the lookback, so a short one counts the same and builds fast
        ctx = FactContext(now=at, calendar=CAL, working_hours_lookback_days=20)
        if values["status"] == "open" and matches(resolve(rule_def.condition, ctx), build_facts(values, CATALOGUE, ctx)):
            return at
        at += step


def test_time_rules_fire_where_sampling_finds_them_first():
    import random

    rng = random.Random(7)
    conditions = [
        {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 30]}]},
        {"and": [{"==": [{"var": "stage"}, "production"]}, {">=": [{"var": "working_hours_in_stage"}, 10]}]},
        {"<=": [{"var": "days_until_planned_delivery"}, 3]},
        {"or": [{">": [{"var": "days_since_created"}, 4]}, {">": [{"var": "amount"}, 9000]}]},
        {"<": [{"var": "planned_delivery"}, {"today": [2]}]},
    ]
    for n in range(8):
        created = T0 + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
        moved = created + timedelta(hours=rng.uniform(1, 90))
        current = {"id": n, "number": f"SO-{n}", "amount": rng.choice((100, 10000)), "stage": "production",
                   "status": "open", "created_at": created, "data": {},
                   "planned_delivery": (created + timedelta(days=rng.randrange(3, 12))).date().isoformat()}
        logged = [LoggedEvent(created, "created", None, {"stage": "approval", "status": "open"}),
                  LoggedEvent(moved, "stage_entered", {"stage": "approval"}, {"stage": "production"})]
        o = OrderTimeline(n, f"SO-{n}", tuple(rebuild(current, logged)))
        for i, condition in enumerate(conditions):
            r = rule(condition, time=True, key=f"c{i}")
            fired = run([r], [o]).runs[f"c{i}"].firings
            sampled = brute_force_first(r, o)
            if sampled is None:
                assert not fired or fired[0].at >= o.steps[0].at + timedelta(days=14) - timedelta(minutes=10), (n, i)
            else:
                assert fired, (n, i, sampled)
                assert fired[0].at <= sampled < fired[0].at + timedelta(minutes=10), (n, i, fired[0].at, sampled)
