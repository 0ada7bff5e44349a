"""Rule versions replayed over rebuilt order timelines with a virtual clock.

For each order and rule (in scope at that moment):

- an **event rule** is evaluated at every step whose events it hears (`heard_event`), as the
  order-change hook does;
- a **time rule** is evaluated at the moments its condition can change between two steps: the
  step itself, then, for the time facts it reads, the exact moments they cross the condition's
  constants (`hours_in_stage > 24`: stage entered + 24 h and one second later; working hours by
  the business calendar, `add_working_hours`; day counts and `today` at local midnights; `now`
  offsets against the order's datetimes). The condition is a function of the step's values and
  the clock, and those facts are monotone in the clock, so it cannot change between two such
  moments: nothing is sampled.
- firing follows `engine.rules.firing.decide_firing` with its state per (rule, order): episodes,
  re-arming when the condition was false in between, every N hours (the next firing moment is
  added), quiet hours (the next working moment is added).

The window starts at `start`: an order already matching then is the baseline (as enabling "from
now on": it does not fire until the condition was false in between). Nothing is written; the
result is firings and the to-dos / messages the actions would have created, by assignee.
"""

from __future__ import annotations

import heapq
import json
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.calendar import BusinessCalendar, CalendarError, add_working_hours, working_hours_between
from engine.facts import Catalogue, FactContext, FactType, build_facts
from engine.facts.catalogue import DERIVED_SOURCES, _json_value, as_utc, derived_value
from engine.jsonlogic import matches, var_names
from engine.replay.timeline import Step
from engine.rules.compiled import matches as compiled_matches
from engine.rules.definition import Assignee, RuleDefinition
from engine.rules.due import DuePlan, due_from_source, plan_due
from engine.rules.events import heard_event
from engine.rules.firing import FiringState, decide_firing
from engine.rules.relative import has_relative
from engine.rules.relative import resolve as resolve_relative

__all__ = ["Firing", "OrderTimeline", "ReplayResult", "RuleRun", "assignee_key", "replay"]

PROGRESS_EVERY = 200
MEMO_LIMIT = 100_000  # remembered results of clock-free conditions per rule
MAX_CONSTANTS = 50  # distinct numbers of one condition that make candidate moments
SCOPED_OPS = {"map", "filter", "reduce", "all", "some", "none"}
HOURS_FACTS = {"hours_in_stage", "hours_since_last_customer_contact", "hours_since_signed"}
DAYS_SINCE_FACTS = {"days_since_created", "days_since_signed"}
CALENDAR_DAY_FACTS = {"days_until_planned_delivery", "days_until_payment_due", "days_overdue_planned_delivery",
                      "days_overdue_payment_due"}
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class _Unchanged:
    reason: str = "condition_false"
    fire: bool = False


QUIET_FALSE = _Unchanged()


@dataclass(frozen=True)
class OrderTimeline:
    """One order's rebuilt steps and what its scope checks read besides its values."""

    order_id: int
    number: str
    steps: tuple[Step, ...]
    customer_tier: str | None = None
    flow_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Firing:
    order_id: int
    at: datetime
    episode: int
    heard: str  # the event heard, or "time"


@dataclass
class RuleRun:
    """One rule version's replay."""

    key: str
    firings: list[Firing] = field(default_factory=list)
    todos: Counter = field(default_factory=Counter)  # assignee key -> to-dos (escalations included)
    effects: Counter = field(default_factory=Counter)  # action type -> count
    error: str | None = None  # why the rule could not be replayed (the others go on)

    @property
    def order_ids(self) -> set[int]:
        return {f.order_id for f in self.firings}


@dataclass
class ReplayResult:
    runs: dict[str, RuleRun]
    orders: int
    evaluations: int = 0
    truncated: bool = False  # the evaluation budget ran out: later orders were not replayed


def assignee_key(assignee: Assignee) -> str:
    """`role:sales`, `user:7`, `owner`, `owner_manager`, `current_approver`, … (a to-do's bucket)."""
    if assignee.kind == "role":
        return f"role:{assignee.role or ''}"
    if assignee.kind == "user":
        return f"user:{assignee.user_id}"
    return assignee.kind


def _constants(node: Any, out: set[float]) -> None:
    if isinstance(node, bool) or node is None:
        return
    if isinstance(node, (int, float)):
        if len(out) < MAX_CONSTANTS and abs(node) < 1e7:
            out.add(float(node))
        return
    if isinstance(node, list):
        for item in node:
            _constants(item, out)
    elif isinstance(node, dict):
        for value in node.values():
            _constants(value, out)


def _ops(node: Any, out: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _ops(item, out)
    elif isinstance(node, dict):
        out.update(node)
        for value in node.values():
            _ops(value, out)


class _Compiled:
    """What the replay needs of one rule: the facts it reads and how time moves them."""

    def __init__(self, rule: RuleDefinition, catalogue: Catalogue):
        self.rule = rule
        ops: set[str] = set()
        _ops(rule.condition, ops)
        names = var_names(rule.condition)
        self.full = bool(ops & SCOPED_OPS) or any(n not in catalogue and n != "data" for n in names)
        self.names = sorted(n for n in names if n in catalogue)
        self.relative = has_relative(rule.condition)
        constants: set[float] = set()
        _constants(rule.condition, constants)
        self.constants = sorted(constants)
        read = set(names) if not self.full else set(DERIVED_SOURCES)
        self.hours = sorted(read & HOURS_FACTS)
        self.days_since = sorted(read & DAYS_SINCE_FACTS)
        self.working = "working_hours_in_stage" in read
        self.days_until = bool(read & CALENDAR_DAY_FACTS) or self.relative
        # working days move `today` by the calendar: every local midnight is a candidate
        self.every_midnight = self.full or "working_days" in json.dumps(rule.condition, default=str)
        self.date_names = sorted({DERIVED_SOURCES[n][0] for n in read & CALENDAR_DAY_FACTS}
                                 | {n for n in names if n in catalogue and catalogue[n].type is FactType.DATE})
        # an `and` splits into the parts time cannot change (checked once per step) and the rest
        parts = rule.condition["and"] if isinstance(rule.condition, dict) and list(rule.condition) == ["and"] \
            and isinstance(rule.condition["and"], list) else [rule.condition]
        static = [p for p in parts if not self.full and not _moves_with_time(p)]
        dynamic = [p for p in parts if self.full or _moves_with_time(p)]
        self.static = {"and": static} if static else None
        # what a clock-free condition reads: its result is remembered by these values
        timeless = rule.condition if not self.full and not _moves_with_time(rule.condition) else self.static
        self.timeless = timeless
        self.timeless_names = sorted(var_names(timeless)) if timeless is not None else []
        self.memo: dict[tuple, bool] = {}
        self.by_day = "now" not in ops  # only `today`: the resolved condition changes once a day
        self._resolved: dict[tuple[int, Any], Any] = {}

        self.dynamic = rule.condition if not static else {"and": dynamic} if dynamic else True
        # a condition the due-time index can plan (one monotone time term and clock-free parts)
        # turns true at a computed moment: no candidate moments, no evaluation per moment
        self.due: DuePlan | None = None
        if rule.is_time_rule and rule.firing.mode in ("once_per_order", "once_per_episode") \
                and not self.full and not self.relative:
            plan = plan_due(rule.condition)
            if plan is not None and len(dynamic) == 1 and static == list(plan.rest):
                self.due = plan
        self.todo_keys: list[str] = []
        for action in rule.actions:
            if action.type == "create_todo":
                self.todo_keys.append(assignee_key(action.assignee))
            elif action.type == "escalate":
                self.todo_keys.append(assignee_key(action.to))
        self.effect_types = [a.type for a in rule.actions]

    def resolved(self, condition: Any, ctx: FactContext) -> Any:
        """`condition` with its relative dates resolved at ctx (remembered per local day when it
        reads only `today`)."""
        if not self.by_day:
            return resolve_relative(condition, ctx)
        key = (id(condition), ctx.today)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= MEMO_LIMIT:
                self._resolved.clear()
            found = self._resolved[key] = resolve_relative(condition, ctx)
        return found


def _moves_with_time(part: Any) -> bool:
    """Whether a condition part may read the clock: a derived fact, a relative date, or anything
    the evaluator resolves at run time (computed `var` names, scoped operators)."""
    ops: set[str] = set()
    _ops(part, ops)
    if ops & (SCOPED_OPS | {"today", "now", "val", "exists", "missing", "missing_some"}):
        return True
    text = json.dumps(part, default=str)
    if any(name in text for name in DERIVED_SOURCES):
        return True
    names = var_names(part)
    return text.count('"var"') > len(names) or any(not isinstance(n, str) for n in names)


def _memo_key(values: Mapping[str, Any], names: Sequence[str]) -> tuple | None:
    """The values a clock-free condition reads, hashable (None when one is not)."""
    key = []
    data = values.get("data") or {}
    for name in names:
        value = (data.get(name[5:]) if isinstance(data, dict) else None) if name.startswith("data.") \
            else values.get(name)
        if isinstance(value, list):
            value = ("list", *value)
        elif isinstance(value, dict):
            return None
        key.append((type(value).__name__, value))
    try:
        hash(key_tuple := tuple(key))
    except TypeError:
        return None
    return key_tuple


def _facts(compiled: _Compiled, values: Mapping[str, Any], catalogue: Catalogue, ctx: FactContext) -> dict[str, Any]:
    if compiled.full:
        return build_facts(values, catalogue, ctx)
    facts: dict[str, Any] = {}
    designed: dict[str, Any] = {}
    for name in compiled.names:
        spec = catalogue[name]
        if spec.source == "core":
            facts[name] = _json_value(values.get(name), spec.type)
        elif spec.source == "derived":
            if name == "working_hours_in_stage":
                facts[name] = _working_hours(values.get("stage_entered_at"), ctx)
            else:
                facts[name] = derived_value(name, values, ctx)
        else:
            data = values.get("data") or {}
            value = data.get(name[5:]) if isinstance(data, dict) else None
            designed[name[5:]] = _json_value(value, spec.type) if isinstance(value, (str, int, float, bool, list)) \
                or value is None else None
    facts["data"] = designed
    return facts


def _working_hours(entered: Any, ctx: FactContext) -> float | None:
    """working_hours_in_stage as the catalogue counts it (whole seconds, the lookback floor)."""
    if entered is None:
        return None
    if isinstance(entered, str):
        entered = datetime.fromisoformat(entered)
    now = ctx.now.replace(microsecond=0)
    start = as_utc(entered).replace(microsecond=0)
    start = min(max(start, now - timedelta(days=ctx.working_hours_lookback_days)), now)
    return float(working_hours_between(start, now, ctx.calendar))


def _in_scope(rule: RuleDefinition, values: Mapping[str, Any], order: OrderTimeline) -> bool:
    scope = rule.scope
    if scope.statuses and values.get("status") not in scope.statuses:
        return False
    if scope.form_keys and values.get("form_key") not in scope.form_keys:
        return False
    if scope.flow_keys and not (order.flow_keys & set(scope.flow_keys)):
        return False
    return not scope.customer_tiers or order.customer_tier in scope.customer_tiers


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return as_utc(value) if isinstance(value, datetime) else None


def _candidates(compiled: _Compiled, values: Mapping[str, Any], lo: datetime, hi: datetime,
                calendar: BusinessCalendar) -> list[datetime]:
    """The moments in (lo, hi) at which a time rule's condition may change (see the module doc)."""
    out: set[datetime] = set()

    def add(moment: datetime) -> None:
        if lo < moment < hi:
            out.add(moment)

    sources = {"hours_in_stage": "stage_entered_at", "hours_since_last_customer_contact": "last_customer_contact_at",
               "hours_since_signed": "signed_at", "days_since_created": "created_at", "days_since_signed": "signed_at"}
    for name in compiled.hours:
        source = _moment(values.get(sources[name]))
        if source is not None:
            for c in compiled.constants:
                moment = source.replace(microsecond=0) + timedelta(hours=c)
                add(moment)
                add(moment + SECOND)
    for name in compiled.days_since:
        source = _moment(values.get(sources[name]))
        if source is not None:
            for c in compiled.constants:
                for k in (c, c + 1):
                    if k >= 0 and k == int(k):
                        add(source.replace(microsecond=0) + timedelta(days=k))
    if compiled.working:
        source = _moment(values.get("stage_entered_at"))
        if source is not None and calendar.has_working_time():
            for c in compiled.constants:
                if c > 0:
                    try:
                        moment = add_working_hours(source.replace(microsecond=0), c, calendar)
                    except CalendarError:
                        continue
                    add(moment)
                    add(moment + SECOND)
    if compiled.relative:
        # `now` offsets against each datetime the order holds
        for key in ("stage_entered_at", "created_at", "last_customer_contact_at", "signed_at", "shipped_at"):
            source = _moment(values.get(key))
            if source is not None:
                for c in compiled.constants:
                    for unit in (timedelta(hours=1), timedelta(days=1)):
                        moment = source.replace(microsecond=0) - unit * c
                        add(moment)
                        add(moment + SECOND)
    zone = calendar.zone
    if compiled.every_midnight and hi - lo <= timedelta(days=400):
        day = lo.astimezone(zone).date() + timedelta(days=1)
        while True:
            moment = datetime.combine(day, time(), zone).astimezone(UTC)
            if moment >= hi:
                break
            add(moment)
            day += timedelta(days=1)
    elif compiled.days_until:
        # a day count against a constant (or `today(n)` against a date) flips at a local midnight
        # near the date moved by the constant
        first_day, last_day = lo.astimezone(zone).date(), hi.astimezone(zone).date()
        offsets = {0} | {int(c) for c in compiled.constants if c == int(c) and abs(c) <= 3650}
        for name in compiled.date_names:
            day = _date_of(values, name)
            if day is None:
                continue
            for c in offsets:
                for k in (c - 1, c, c + 1, -c - 1, -c, -c + 1):
                    try:
                        flip = day + timedelta(days=k)
                    except OverflowError:
                        continue
                    if first_day <= flip <= last_day:
                        add(datetime.combine(flip, time(), zone).astimezone(UTC))
    return sorted(out)


def _due_at(plan: DuePlan, values: Mapping[str, Any], lo: datetime, hi: datetime,
            calendar: BusinessCalendar) -> tuple[bool, datetime | None]:
    """(planned, moment): the moment in [lo, hi) from which the time term holds (None: not before
    hi). Not planned (False) when the due-time computation cannot say (the working-hours look-back
    clamp could bite before hi): the candidate moments are then evaluated."""
    term = plan.term
    source = values.get(DERIVED_SOURCES[term.fact][0])
    ctx = FactContext(now=lo, calendar=calendar)
    if isinstance(source, str) and DERIVED_SOURCES[term.fact][1] == "days" and len(source) != 10:
        return False, None  # not a plain date: the evaluator decides (as it reads it)
    if term.fact == "working_hours_in_stage":
        entered = _moment(source)
        if entered is not None and hi - entered >= timedelta(days=ctx.working_hours_lookback_days):
            return False, None
    try:
        due = due_from_source(term, source, ctx)
    except (TypeError, ValueError, OverflowError):
        return False, None
    if due.kind == "scan":
        return False, None
    if due.kind == "never" or due.at is None or due.at >= hi:
        return True, None
    return True, max(due.at, lo)


def _date_of(values: Mapping[str, Any], name: str) -> date | None:
    value = (values.get("data") or {}).get(name[5:]) if name.startswith("data.") else values.get(name)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _next_working(moment: datetime, calendar: BusinessCalendar) -> datetime | None:
    day = moment.astimezone(calendar.zone).date()
    for _ in range(30):
        for lo, _hi in calendar.working_intervals(day):
            if lo > moment:
                return lo
        day += timedelta(days=1)
    return None


def replay(rules: Sequence[RuleDefinition], orders: Iterable[OrderTimeline], catalogue: Catalogue, *,
           calendar: BusinessCalendar, start: datetime, end: datetime, max_evaluations: int = 20_000_000,
           progress: Callable[[int], bool | None] | None = None, due_moments: bool = True) -> ReplayResult:
    """Replay `rules` over `orders` between `start` and `end` (see the module docstring).

    At most `max_evaluations` condition evaluations; `progress(orders done)` is called every
    `PROGRESS_EVERY` orders and stops the replay (truncated) when it answers True.
    `due_moments=False` evaluates every time rule at its candidate moments (the way before the
    due-time shortcut; the differential test compares both)."""
    compiled: list[_Compiled] = []
    runs: dict[str, RuleRun] = {}
    for rule in rules:
        runs[rule.key] = RuleRun(rule.key)
        compiled.append(_Compiled(rule, catalogue))
        if not due_moments:
            compiled[-1].due = None
    result = ReplayResult(runs, 0)
    broken: set[str] = set()
    for count, order in enumerate(orders, 1):
        if result.evaluations >= max_evaluations:
            result.truncated = True
            break
        result.orders = count
        first = bisect_left([s.at for s in order.steps], start)  # the first step in the window, shared
        for item in compiled:
            if item.rule.key in broken:
                continue
            try:
                result.evaluations += _replay_one(item, order, catalogue, calendar, start, end, runs[item.rule.key],
                                                  first)
            except Exception as exc:  # noqa: BLE001 - one rule that cannot evaluate never stops the others
                broken.add(item.rule.key)
                runs[item.rule.key].error = f"{type(exc).__name__}: {exc}"[:300]
        if progress is not None and count % PROGRESS_EVERY == 0 and progress(count):
            result.truncated = True
            break
    return result


def _replay_one(item: _Compiled, order: OrderTimeline, catalogue: Catalogue, calendar: BusinessCalendar,
                start: datetime, end: datetime, run: RuleRun, first: int | None = None) -> int:
    rule = item.rule
    steps = order.steps
    evaluations = 0

    def holds(values: Mapping[str, Any], at: datetime, condition: Any = rule.condition) -> bool:
        nonlocal evaluations
        evaluations += 1
        if not _in_scope(rule, values, order):
            return False
        if item.timeless is not None and (condition is item.timeless or condition is rule.condition
                                          and item.timeless is rule.condition):
            key = _memo_key(values, item.timeless_names)
            if key is not None:
                known = item.memo.get(key)
                if known is None:
                    if len(item.memo) >= MEMO_LIMIT:
                        item.memo.clear()
                    ctx = FactContext(now=at, calendar=calendar)
                    known = item.memo[key] = compiled_matches(item.timeless, _facts(item, values, catalogue, ctx))
                return known
        ctx = FactContext(now=at, calendar=calendar)
        if item.relative:
            condition = item.resolved(condition, ctx)
            if not item.by_day:  # resolved afresh at every moment: compiling it would cost more
                return matches(condition, _facts(item, values, catalogue, ctx))
        # a parsed condition, or one resolved once per day (kept): compiled once (engine/rules/compiled.py)
        return compiled_matches(condition, _facts(item, values, catalogue, ctx))

    state: FiringState | None = None
    # the baseline: the order as it was at the window's start
    if first is None:
        first = bisect_left([s.at for s in steps], start)
    if first > 0 and holds(steps[first - 1].values, start):
        state = FiringState(active=True)

    def record(at: datetime, heard: str, condition: bool) -> Any:
        nonlocal state
        if not condition and (state is None or not state.active):
            return QUIET_FALSE  # nothing changes: no firing, the state stays inactive
        decision = decide_firing(rule.firing, state, condition, at, calendar)
        state = decision.state
        if decision.fire:
            run.firings.append(Firing(order.order_id, at, decision.episode, heard))
            for key in item.todo_keys:
                run.todos[key] += 1
            for kind in item.effect_types:
                run.effects[kind] += 1
        return decision

    if not rule.is_time_rule:
        trigger = rule.trigger
        for index in range(first, len(steps)):  # the steps in the window
            step = steps[index]
            if step.at >= end:
                break
            heard = heard_event(trigger, step.events)
            if heard is not None:
                record(step.at, heard, holds(step.values, step.at))
        return evaluations
    for index in range(max(first - 1, 0), len(steps)):
        step = steps[index]
        if step.at >= end:
            break
        hi = min(steps[index + 1].at if index + 1 < len(steps) else end, end)
        lo = max(step.at, start)
        if item.static is not None and not holds(step.values, lo, item.static):
            record(lo, "time", False)  # time cannot make it true before the next step
            continue
        if item.due is not None:
            planned, due = _due_at(item.due, step.values, lo, hi, calendar)
            if planned:
                if item.static is None:  # the scope, checked by holds() with the static parts
                    evaluations += 1
                    if not _in_scope(rule, step.values, order):
                        due = None
                _due_moments(item, lo, hi, due, record, calendar)
                evaluations += 1 if due is None or due == lo else 2
                continue
        moments = [lo, *_candidates(item, step.values, lo, hi, calendar)]
        heapq.heapify(moments)
        seen: set[datetime] = set()
        while moments:
            at = heapq.heappop(moments)
            if at in seen or at >= hi:
                continue
            seen.add(at)
            condition = holds(step.values, at, item.dynamic)
            decision = record(at, "time", condition)
            if decision.reason == "quiet_hours":
                later = _next_working(at, calendar)
                if later is not None and later < hi:
                    heapq.heappush(moments, later)
            elif condition and rule.firing.mode == "every_n_hours" and rule.firing.every_hours:
                later = (state.last_fired_at or at) + timedelta(hours=rule.firing.every_hours)
                if later < hi:
                    heapq.heappush(moments, later)
    return evaluations


def _due_moments(item: _Compiled, lo: datetime, hi: datetime, due: datetime | None,
                 record: Callable[[datetime, str, bool], Any], calendar: BusinessCalendar) -> None:
    """A planned time rule between two steps: false until `due` (None: until hi), then true. With
    once-per-order / once-per-episode firing only the first false moment (it ends an episode)
    and the first true one (it fires, or waits for the working moment after quiet hours) can
    change anything, so those are the moments decided."""
    at: datetime | None = lo
    while at is not None and at < hi:
        condition = due is not None and at >= due
        decision = record(at, "time", condition)
        if not condition:
            at = due
        elif decision.reason == "quiet_hours":
            at = _next_working(at, calendar)
        else:
            break
