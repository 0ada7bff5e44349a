"""whatif3: time rules the due-time index can plan are decided at their computed due moment, not
evaluated at every candidate moment. Differential test: the same seeded history replayed both
ways gives the same firings (moment, episode, heard), to-dos and diff."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from engine.calendar import BusinessCalendar
from engine.facts import default_catalogue
from engine.replay.diff import compare
from engine.replay.rules import OrderTimeline, _Compiled, replay
from engine.replay.timeline import LoggedEvent, rebuild
from engine.rules.definition import load_rule

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
START = NOW - timedelta(weeks=4)
CAL = BusinessCalendar()
CATALOGUE = default_catalogue()
STAGES = ("draft", "approval", "production", "shipping", "delivered")


def _rule(key, condition, *, time=True, mode="once_per_episode", quiet=False, events=None):
    trigger = {"kind": "time"} if time else {"kind": "event", "events": events or ["stage_entered"]}
    return load_rule({"key": key, "name": {"en": key}, "trigger": trigger, "condition": condition,
                      "firing": {"mode": mode, "quiet_hours": quiet},
                      "actions": [{"type": "create_todo", "assignee": {"kind": "role", "role": "sales"},
                                   "title_template": {"en": "x"}}]})


def rules(variant: int):
    k = 0.7 if variant else 1.0
    out = []
    for i, (stage, hours) in enumerate((("approval", 24), ("production", 72), ("draft", 12))):
        out.append(_rule(f"h{i}", {"and": [{"==": [{"var": "stage"}, stage]},
                                           {">": [{"var": "hours_in_stage"}, hours * k]}]},
                         quiet=i == 1, mode="once_per_order" if i == 2 else "once_per_episode"))
    out.append(_rule("h_any", {">=": [{"var": "hours_in_stage"}, 30 * k]}))
    out.append(_rule("contact", {">": [{"var": "hours_since_last_customer_contact"}, 20 * k]}, quiet=True))
    for i, (stage, hours) in enumerate((("approval", 16), ("production", 40))):
        out.append(_rule(f"w{i}", {"and": [{"==": [{"var": "stage"}, stage]},
                                           {">=": [{"var": "working_hours_in_stage"}, hours * k]}]},
                         quiet=i == 0))
    for i, days in enumerate((2, 5)):
        out.append(_rule(f"d{i}", {"and": [{"!=": [{"var": "stage"}, "delivered"]},
                                           {"!!": {"var": "planned_delivery"}},
                                           {"<=": [{"var": "days_until_planned_delivery"}, days + variant]}]}))
    out.append(_rule("overdue", {">=": [{"var": "days_overdue_planned_delivery"}, 1 + variant]}))
    out.append(_rule("old", {">": [{"var": "days_since_created"}, 10 - 3 * variant]}, quiet=True))
    out.append(_rule("old_big", {"and": [{">": [{"var": "amount"}, 50000 * k]},
                                         {">=": [{"var": "days_since_created"}, 6 + variant]}]}))
    # not planned (the old way either way): every_n_hours, every_time, a shrinking term, today()
    out.append(_rule("nag", {">": [{"var": "hours_in_stage"}, 10 * k]}, mode="every_n_hours"))
    out.append(_rule("fresh", {"<": [{"var": "hours_in_stage"}, 5 + variant]}))
    out.append(_rule("past_due", {"and": [{"!=": [{"var": "stage"}, "delivered"]},
                                          {"<": [{"var": "planned_delivery"}, {"today": [-variant]}]}]}))
    # event rules beside them
    out.append(_rule("big", {">": [{"var": "amount"}, 60000 * k]}, time=False, events=["order_created", "field_changed"]))
    out.append(_rule("ship", {"==": [{"var": "stage"}, "shipping"]}, time=False))
    return out


def history(count: int, seed: int = 3) -> list[OrderTimeline]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        created = START - timedelta(days=3) + timedelta(seconds=rng.randrange(31 * 86400),
                                                        microseconds=rng.randrange(10**6))
        amount = rng.choice((5000, 30000, 70000, 100000))
        events = [LoggedEvent(created, "created", None, {"amount": str(amount), "stage": "draft", "status": "open",
                                                         "data": {}})]
        stage, at = "draft", created
        for nxt in STAGES[1:1 + rng.randrange(0, 5)]:
            at += timedelta(hours=rng.uniform(2, 130), microseconds=rng.randrange(10**6))
            if at >= NOW:
                break
            events.append(LoggedEvent(at, "stage_entered", {"stage": stage}, {"stage": nxt}))
            stage = nxt
        if n % 3 == 0:
            events.append(LoggedEvent(created + timedelta(hours=rng.uniform(1, 90)), "updated",
                                      {"amount": str(amount)}, {"amount": str(amount + 40000)}))
        if n % 4 == 0:
            events.append(LoggedEvent(created + timedelta(hours=rng.uniform(1, 200)), "urged", None,
                                      {"urge_count": 1}))
        events = sorted((e for e in events if e.at < NOW), key=lambda e: e.at)
        planned = (created + timedelta(days=rng.randrange(2, 30))).date() if n % 7 else None
        current = {"id": n + 1, "number": f"SO-{n + 1}", "amount": amount + (40000 if n % 3 == 0 else 0),
                   "stage": stage, "status": "open", "created_at": created, "planned_delivery": planned,
                   "stage_entered_at": at if stage != "draft" else created, "data": {},
                   "urge_count": 1 if n % 4 == 0 else 0,
                   "last_customer_contact_at": events[-1].at if n % 4 == 0 else None}
        out.append(OrderTimeline(n + 1, f"SO-{n + 1}", tuple(rebuild(current, events))))
    return out


def both_ways(rule_list, orders):
    kwargs = {"calendar": CAL, "start": START, "end": NOW}
    return (replay(rule_list, orders, CATALOGUE, due_moments=False, **kwargs),
            replay(rule_list, orders, CATALOGUE, **kwargs))


def test_planned_rules_are_the_ones_the_due_index_would_plan():
    planned = {r.key for r in rules(0) if _Compiled(r, CATALOGUE).due is not None}
    assert planned == {"h0", "h1", "h2", "h_any", "contact", "w0", "w1", "d0", "d1", "overdue", "old", "old_big"}


def test_due_moments_give_the_same_firings_as_candidate_moments():
    orders = history(400)
    for variant in (0, 1):
        old, new = both_ways(rules(variant), orders)
        assert not old.truncated and not new.truncated
        fired = 0
        for key, run in old.runs.items():
            assert run.error is None and new.runs[key].error is None, key
            assert new.runs[key].firings == run.firings, key
            assert new.runs[key].todos == run.todos and new.runs[key].effects == run.effects, key
            fired += len(run.firings)
        assert fired > 500  # the history makes every kind of rule fire
        assert all(old.runs[r].firings for r in ("h0", "h1", "w0", "w1", "d0", "overdue", "old", "old_big", "contact"))
        assert new.evaluations < old.evaluations


def test_the_diff_of_two_versions_is_the_same_both_ways():
    orders = history(300, seed=11)
    before_old, before_new = both_ways(rules(0), orders)
    after_old, after_new = both_ways(rules(1), orders)
    assert compare(before_old, after_old) == compare(before_new, after_new)
    assert any(d.moved for d in compare(before_new, after_new))
