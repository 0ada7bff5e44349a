"""Due moments: when a time rule's condition will become true for one order.

Why this exists: a time condition like `working_hours_in_stage > 24` or `days_until_payment_due <= 3`
compares a fact that moves monotonically with time against a constant. For an order whose other
facts stay as they are, the moment it becomes true is computable; the backend keeps those moments
in an indexed table (backend/rules/due_index.py) and the worker wakes at the next one, instead of
scanning the whole order book every minute to notice it.

A rule is *indexable* when its condition is one such time term, or an `and` of exactly one time
term and terms that read no time-dependent fact (no derived fact, no relative date): those other
terms change only when the order changes, and an order change recomputes its moments. The time
term must become true as time passes and stay true (`hours_in_stage > 24` does; `hours_in_stage <
24` is true first and ends by itself, which the scan handles). Everything else is *scanned*.

Exactness: the moment is found from the fact's own definition (`derived_of_source`) with the
evaluator's own comparison, bisected over whole seconds (or whole local days), as the compiler
finds its ranges (engine/facts/sql.py:threshold_sql). `working_hours_in_stage` counts working
seconds on the business calendar from the stage entry; past the fact's look-back window the clamp
would change the answer, so such an order answers SCAN (the reconciliation scan covers it).

Pure: `now` comes in through FactContext.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Literal

from engine.calendar import BusinessCalendar
from engine.facts import Catalogue, FactContext, build_facts
from engine.facts.catalogue import (
    DERIVED_SOURCES,
    PAIR_SOURCES,
    WORKER_REFRESHED,
    derived_of_source,
    epoch_seconds,
)
from engine.jsonlogic import matches, var_names
from engine.rules import compiled
from engine.rules.definition import RuleDefinition
from engine.rules.relative import has_relative

__all__ = ["NEVER", "SCAN", "Due", "DuePlan", "TimeTerm", "due_from_source", "due_moment",
           "source_offset", "plan_due", "rule_kind"]

RuleKind = Literal["event", "indexed", "scanned"]

#: facts that grow with time (the others, days_until_*, shrink)
_GROWING = frozenset(name for name in DERIVED_SOURCES if not name.startswith("days_until_"))
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_SECONDS_SPAN = 10**10  # ±317 years: any gap between a stored moment and now lies inside
_DAYS_SPAN = 40_000
_DAY_REF = 800_000  # a date ordinal (year 2191) the day gaps are measured from


@dataclass(frozen=True)
class TimeTerm:
    """`fact op value`, normalised so the fact is on the left."""

    fact: str
    op: str
    value: float

    @property
    def condition(self) -> dict[str, Any]:
        return {self.op: [{"var": self.fact}, self.value]}

    def holds(self, fact_value: float | None) -> bool:
        return matches(self.condition, {self.fact: fact_value})


@dataclass(frozen=True)
class DuePlan:
    """An indexable condition: its time term and the other conjuncts (time-independent)."""

    term: TimeTerm
    rest: tuple[Any, ...]


@dataclass(frozen=True)
class Due:
    """`at`: the moment the condition becomes (or already is) true; `never`: not while the order
    stays as it is; `scan`: not computable for this order (the reconciliation scan covers it)."""

    kind: Literal["at", "never", "scan"]
    at: datetime | None = None


NEVER = Due("never")
SCAN = Due("scan")


def _time_term(node: Any) -> TimeTerm | None:
    if not isinstance(node, dict) or len(node) != 1:
        return None
    op, args = next(iter(node.items()))
    if op not in _FLIP or not isinstance(args, list) or len(args) != 2:
        return None
    left, right = args
    if _is_number(left) and _is_var(right):
        op, left, right = _FLIP[op], right, left
    if not (_is_var(left) and _is_number(right)):
        return None
    name = left["var"] if isinstance(left["var"], str) else left["var"][0]
    if name not in DERIVED_SOURCES:
        return None
    return TimeTerm(name, op, float(right))


def _is_var(node: Any) -> bool:
    if not isinstance(node, dict) or list(node) != ["var"]:
        return False
    arg = node["var"]
    return isinstance(arg, str) or (isinstance(arg, list) and len(arg) == 1 and isinstance(arg[0], str))


def _is_number(node: Any) -> bool:
    return isinstance(node, (int, float)) and not isinstance(node, bool)


def _grows_true(term: TimeTerm) -> bool:
    """Whether the term becomes true as time passes and then stays true."""
    growing = term.fact in _GROWING
    return (term.op in (">", ">=")) == growing


#: facts that change while the order stays as it is: derived time facts, the two-column ones
#: (stall_ratio grows with time in stage) and the scores the worker rewrites without an order change
_MOVING = frozenset((*DERIVED_SOURCES, *PAIR_SOURCES, *WORKER_REFRESHED))


def _time_free(node: Any) -> bool:
    try:
        names = var_names(node)
    except (TypeError, ValueError, RecursionError):
        return False
    text = json.dumps(node)  # a computed `var` name could still spell a moving fact: refuse those too
    return (not has_relative(node) and not any(n in _MOVING for n in names)
            and not any(n in text for n in _MOVING))


def plan_due(condition: Any) -> DuePlan | None:
    """The due plan of a condition, or None when it is not indexable (it stays on the scan)."""
    parts = condition["and"] if isinstance(condition, dict) and list(condition) == ["and"] else [condition]
    if not isinstance(parts, list):
        return None
    terms = [(i, t) for i, p in enumerate(parts) if (t := _time_term(p)) is not None]
    if len(terms) != 1:
        return None
    index, term = terms[0]
    rest = tuple(p for i, p in enumerate(parts) if i != index)
    if not _grows_true(term) or not all(_time_free(p) for p in rest):
        return None
    return DuePlan(term, rest)


def rule_kind(rule: RuleDefinition, *, compiles: bool) -> RuleKind:
    """What the designer shows: an event rule, a time rule on the due-time index, or one the scan
    checks. `every_n_hours` fires again while true, which the scan's interval query does."""
    if not rule.is_time_rule or not compiles:
        return "event"
    if rule.firing.mode in ("once_per_order", "once_per_episode") and plan_due(rule.condition) is not None:
        return "indexed"
    return "scanned"


# --- the gap after the source at which the term holds -----------------------------------------


def _first(holds, lo: int, hi: int) -> int | None:
    """Smallest x in [lo, hi] with holds(x) (holds is monotone: false then true), or None."""
    if not holds(hi):
        return None
    if holds(lo):
        return lo
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if holds(middle):
            hi = middle
        else:
            lo = middle
    return hi


@lru_cache(maxsize=1024)
def _gap(term: TimeTerm) -> int | None:
    """The smallest gap (seconds, local days, or working seconds after the source) at which the
    term holds, from the fact's own definition; None when it never does."""
    unit = DERIVED_SOURCES[term.fact][1]
    if term.fact == "working_hours_in_stage":
        return _first(lambda w: term.holds(w / 3600.0), 0, _SECONDS_SPAN)
    if unit == "seconds":
        def value(gap: int) -> float:
            return derived_of_source(term.fact, 0, SimpleNamespace(now_seconds=gap))  # type: ignore[arg-type]
        return _first(lambda g: term.holds(value(g)), -_SECONDS_SPAN, _SECONDS_SPAN)

    def days(gap: int) -> float:
        today = date.fromordinal(_DAY_REF + gap)
        return derived_of_source(term.fact, _DAY_REF, SimpleNamespace(today=today))  # type: ignore[arg-type]
    return _first(lambda g: term.holds(days(g)), -_DAYS_SPAN, _DAYS_SPAN)


@lru_cache(maxsize=4096)
def _day_seconds(calendar: BusinessCalendar, day: date) -> tuple[tuple[int, int], ...]:
    """A day's working intervals as epoch seconds (a day is asked for once per many orders)."""
    return tuple((epoch_seconds(lo), epoch_seconds(hi)) for lo, hi in calendar.working_intervals(day))


def _add_working_seconds(start: int, seconds: int, calendar: BusinessCalendar, limit: int) -> int | None:
    """The first whole second at which `seconds` working seconds have passed since `start`
    (epoch seconds), or None past `start + limit`."""
    if seconds <= 0:
        return start
    left = seconds
    day = datetime.fromtimestamp(start, UTC).astimezone(calendar.zone).date() - timedelta(days=1)
    end = start + limit
    for _ in range(limit // 86400 + 3):
        for lo_s, hi_s in _day_seconds(calendar, day):
            lo_s = max(lo_s, start)
            if hi_s <= lo_s:
                continue
            if lo_s > end:
                return None
            if hi_s - lo_s >= left:
                moment = lo_s + left
                return moment if moment <= end else None
            left -= hi_s - lo_s
        day += timedelta(days=1)
    return None


def source_offset(term: TimeTerm) -> tuple[str, int | None] | None:
    """The term's moment as a plain offset from its source column, for a set-based rendering:
    ("seconds", gap) — due `gap` seconds after the source floored to whole seconds; ("days", gap) —
    due at local midnight of the source date plus `gap` days; gap None: never (for a present
    source). None for `working_hours_in_stage`, whose moment depends on the business calendar.
    A null source is the fact's null: due at once when `term.holds(None)`, else never."""
    if term.fact == "working_hours_in_stage":
        return None
    return DERIVED_SOURCES[term.fact][1], _gap(term)


def due_from_source(term: TimeTerm, source: Any, ctx: FactContext) -> Due:
    """When the term becomes true for an order whose source column holds `source` (a datetime,
    a date or None), the other conjuncts taken as true. The term is monotone in the gap between
    the source and now, so it holds now exactly when that gap has reached the smallest one."""
    name = term.fact
    unit = DERIVED_SOURCES[name][1]
    if source is None:
        return Due("at", ctx.now) if term.holds(None) else NEVER  # null stays null: constant in time
    gap = _gap(term)
    if unit == "seconds":
        source_s = epoch_seconds(source if isinstance(source, datetime) else datetime.fromisoformat(source))
        if name != "working_hours_in_stage":
            if gap is None:
                return NEVER
            moment = source_s + gap
            return Due("at", ctx.now if moment <= ctx.now_seconds else datetime.fromtimestamp(moment, UTC))
        lookback = ctx.working_hours_lookback_days * 86400
        if ctx.now_seconds - source_s >= lookback:  # clamped by the look-back window: the fact decides
            return Due("at", ctx.now) if term.holds(derived_of_source(name, source_s, ctx)) else SCAN
        if gap is None:
            return NEVER
        # inside the window the fact is the working time since the source: it holds from `moment`
        moment = _add_working_seconds(source_s, gap, ctx.calendar, lookback)
        if moment is None:
            return SCAN
        return Due("at", max(ctx.now, datetime.fromtimestamp(moment, UTC)))
    day = source if isinstance(source, date) and not isinstance(source, datetime) else date.fromisoformat(str(source)[:10])
    if gap is None:
        return NEVER
    local = date.fromordinal(max(1, min(date.max.toordinal(), day.toordinal() + gap)))
    if local <= ctx.today:
        return Due("at", ctx.now)
    midnight = datetime.combine(local, datetime.min.time(), ctx.calendar.zone).astimezone(UTC)
    return Due("at", max(ctx.now, midnight))


def due_moment(plan: DuePlan, order: Mapping[str, Any], catalogue: Catalogue, ctx: FactContext,
               facts: Mapping[str, Any] | None = None) -> Due:
    """When the whole condition becomes true for this order as it is now."""
    facts = facts if facts is not None else build_facts(order, catalogue, ctx)
    if not all(compiled.matches(part, facts) for part in plan.rest):  # parsed once per stored text
        return NEVER
    return due_from_source(plan.term, order.get(DERIVED_SOURCES[plan.term.fact][0]), ctx)
