"""The one-pass time-rule scan: every enabled time rule over all orders in a single query.

Why one pass: a query per rule re-reads the whole order table per rule (23.6 s for 100 rules at
1,000,000 orders, docs/benchmarks.md), and most of what it finds was already acted on at the last
scan. Here each enabled time rule version holds a slot (`rule_definition.scan_slot`): bit
`slot % 62` of word `slot // 62`. One query computes every order's words now (one `CASE` per rule,
summed per word) and joins them with the words stored at the last scan (`rule_order_mask`); only
orders whose words differ come back, plus the current matches of rules that have no baseline yet
("fresh": just enabled, republished, or on a reused slot). In steady state that is the handful of
orders whose condition changed since the last minute.

Per returned order, per rule: a match that started is a candidate (`decide_firing` with the stored
`FiringState` decides), a match that ended ends the episode (state inactive). The orders are
handled in chunks, one transaction each: firings, their effects and outbox rows, states and the
orders' new words commit together. A worker killed mid-scan loses only its open chunk, whose
orders still differ at the next scan; the firing's unique key (rule, order, episode) keeps a
second worker or a rerun from recording a firing twice. `every_n_hours` rules fire again while the
condition holds: a query over their states finds the orders whose interval has passed.

A word lists bits, not rule ids, so its text is short: "0,4611686018427387904" for two words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.sql import visitors
from sqlmodel import Session

from backend.orders.models import Order
from backend.rules import service
from backend.rules.models import RuleDefinitionRow, RuleOrderMask, RuleOrderState
from engine.facts import Catalogue, FactContext, FactType
from engine.facts.sql import JsonValue
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.firing import decide_firing

ORDER = service.ORDER
STATE = service.STATE
MASK = RuleOrderMask.__table__
WORD_BITS = 62  # bits per signed 64-bit word, keeping clear of the sign bit


@dataclass(frozen=True)
class ScanRule:
    """An enabled time rule as the scan sees it."""

    row_id: int
    slot: int
    ready: bool  # its matches were recorded by a completed scan
    due: bool  # its interval has passed: act on its changes now (otherwise keep last scan's bits)
    rule: RuleDefinition
    match: Any  # scope AND condition, over the order table

    @property
    def word(self) -> int:
        return self.slot // WORD_BITS

    @property
    def bit(self) -> int:
        return 1 << (self.slot % WORD_BITS)


@dataclass(frozen=True)
class Plan:
    rules: tuple[ScanRule, ...]
    words: int
    statuses: tuple[str, ...] = ()  # the union of the rules' status scopes; () when one has none

    def prefilter(self) -> Any:
        """Orders any rule can look at."""
        return ORDER.c.status.in_(self.statuses) if self.statuses else true()


# --- words -----------------------------------------------------------------------------------


def parse_words(value: str | None, count: int) -> list[int]:
    """Stored words as integers, padded or cut to `count` (a slot beyond the stored words is 0)."""
    words = [int(part) for part in value.split(",")] if value else []
    return (words + [0] * count)[:count]


def format_words(words: Sequence[int]) -> str:
    return ",".join(str(w) for w in words)


def has(words: Sequence[int], rule: ScanRule) -> bool:
    return bool(words[rule.word] & rule.bit)


# --- plan ------------------------------------------------------------------------------------


def due(row: RuleDefinitionRow, now: datetime) -> bool:
    every = timedelta(minutes=(row.definition.get("trigger") or {}).get("every_minutes", 1))
    return row.last_scan_at is None or now - row.last_scan_at >= every - timedelta(seconds=1)


def assign_slots(session: Session) -> list[RuleDefinitionRow]:
    """The enabled, scannable time rules, each with a slot (the lowest free one for new ones)."""
    rows = list(session.exec(
        select(RuleDefinitionRow).where(
            RuleDefinitionRow.enabled.is_(True), RuleDefinitionRow.status == "published",
            RuleDefinitionRow.is_time_rule.is_(True), RuleDefinitionRow.is_event_only.is_(False),
        ).order_by(RuleDefinitionRow.id)
    ).scalars())
    taken = {r.scan_slot for r in rows if r.scan_slot is not None}
    free = (s for s in range(len(rows) + len(taken) + 1) if s not in taken)
    for row in rows:
        if row.scan_slot is None:
            row.scan_slot, row.scan_ready = next(free), False
    session.flush()
    return rows


def build_plan(rows: Iterable[RuleDefinitionRow], catalogue: Catalogue, ctx: FactContext) -> Plan:
    loaded = []
    for row in rows:
        rule = load_rule(row.definition)
        try:
            loaded.append((row, rule, compile_condition(rule.condition, catalogue, ORDER.c, ctx)))
        except NotCompilable:
            continue  # a form field it reads was removed since publishing: it cannot be scanned
    scopes = [rule.scope.statuses for _, rule, _ in loaded]
    # the query reads only orders in the union of the rules' statuses: a rule whose statuses are
    # that union need not check them again (a hundred string comparisons per order saved)
    union = tuple(sorted({s for group in scopes for s in group})) if scopes and all(scopes) else ()
    rules = []
    for row, rule, condition in loaded:
        scope = rule.scope
        if union and tuple(sorted(scope.statuses)) == union:
            scope = scope.model_copy(update={"statuses": ()})
        rules.append(ScanRule(row.id, row.scan_slot, row.scan_ready, due(row, ctx.now), rule,
                              and_(service.scope_clause(rule.model_copy(update={"scope": scope})), condition)))
    words = max((r.word for r in rules), default=0) + 1
    return Plan(tuple(sorted(rules, key=lambda r: r.slot)), words, union)


# --- the one query ---------------------------------------------------------------------------


def _json_key(element: Any, index: int) -> str:
    return list(element.clauses)[index].value


def _is_text_equals(element: Any) -> bool:
    return getattr(element, "name", None) == "json_text_equals"  # engine.rules.compiler._JsonTextEquals


def hoist_json(matches: Sequence[Any], where: Any) -> tuple[Any, list[Any]]:
    """PostgreSQL: read every designed field once per order, not once per rule that mentions it.

    A JSON read (`data -> 'weight'`, its type check, the cast) costs more than the rest of a rule's
    condition: twenty rules on `data.weight` read it sixty times per order (18 s for 20 rules at
    1 M orders, against 6 s hoisted). The reads move into a derived table of the orders `where`
    selects: per field its type check and its typed value (NULL when the JSON type differs). The
    rules then compare columns: a raw read becomes the guarded value, the same wherever the compiler
    uses it (only behind its type check), and a text equality compares the typed text.
    `clock_timestamp()`, a volatile function, keeps PostgreSQL from folding the derived table back
    into the query (and so copying each read into every rule) while still letting parallel
    workers scan it, which `OFFSET 0` would not. Returns (the derived table, the rewritten
    matches)."""
    wanted: dict[tuple[str, str, Any], Any] = {}

    def need(key: str, kind: Any) -> None:
        wanted.setdefault(("guard", key, kind), JsonValue(ORDER.c.data, key, kind, "guard"))
        wanted.setdefault(("value", key, kind), JsonValue(ORDER.c.data, key, kind, "value"))

    def collect(element: Any) -> None:
        if isinstance(element, JsonValue):
            need(_json_key(element, 2), element.kind)
        elif _is_text_equals(element):
            need(_json_key(element, 1), FactType.STRING)
        else:
            for child in element.get_children():
                collect(child)

    for match in matches:
        collect(match)
    names = {spec: f"h{i}" for i, spec in enumerate(wanted)}
    table = select(*ORDER.c, *[expr.label(names[spec]) for spec, expr in wanted.items()],
                   func.clock_timestamp().label("fence")).where(where).subquery("o")

    def replace(element: Any) -> Any:
        if isinstance(element, JsonValue):
            part = "guard" if element.part == "guard" else "value"
            return table.c[names[(part, _json_key(element, 2), element.kind)]]
        if _is_text_equals(element):
            text = json.loads(list(element.clauses)[2].value)  # the constant, as JSON text
            value = table.c[names[("value", _json_key(element, 1), FactType.STRING)]]
            return func.coalesce(value == literal(text, String), False)
        if getattr(element, "table", None) is ORDER:
            return table.c[element.name]
        return None

    return table, [visitors.replacement_traverse(m, {}, replace) for m in matches]


def changed_orders_query(plan: Plan, dialect: str = "postgresql") -> Any:
    """(order id, words now, words at the last scan) for every order whose words differ, or that
    matches a rule without a baseline."""
    if dialect == "postgresql":
        orders, matches = hoist_json([r.match for r in plan.rules], plan.prefilter())
        where = true()
    else:
        orders, matches, where = ORDER, [r.match for r in plan.rules], plan.prefilter()
    terms: list[list[Any]] = [[] for _ in range(plan.words)]
    for r, match in zip(plan.rules, matches, strict=True):
        terms[r.word].append(case((match, literal(r.bit, BigInteger)), else_=literal(0, BigInteger)))
    words = [reduce(lambda a, b: a + b, t) if t else literal(0, BigInteger) for t in terms]
    now = select(orders.c.id.label("order_id"), *[w.label(f"w{i}") for i, w in enumerate(words)]) \
        .where(where).subquery("now_words")
    cols = [func.coalesce(now.c[f"w{i}"], 0) for i in range(plan.words)]
    as_text = reduce(lambda a, b: a + literal(",") + b, [cast(c, String) for c in cols])
    fresh = [0] * plan.words
    for r in plan.rules:
        if not r.ready:
            fresh[r.word] |= r.bit
    differs = [as_text != func.coalesce(MASK.c.words, format_words([0] * plan.words))]
    differs += [cols[i].op("&")(literal(bits, BigInteger)) != 0 for i, bits in enumerate(fresh) if bits]
    return (
        select(func.coalesce(now.c.order_id, MASK.c.order_id), as_text, MASK.c.words)
        .select_from(now.join(MASK, MASK.c.order_id == now.c.order_id, full=True))
        .where(or_(*differs))
    )


def changed_orders(session: Session, plan: Plan) -> list[tuple[int, list[int], list[int]]]:
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiling a hundred CASE branches costs more than the scan it would speed up (17 s at
        # 100 rules); the join with last scan's words fits in memory instead of spilling batches
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    rows = session.execute(changed_orders_query(plan, session.get_bind().dialect.name)).all()
    return [(order_id, parse_words(now, plan.words), parse_words(before, plan.words)) for order_id, now, before in rows]


def end_stale_episodes(session: Session, rule: ScanRule) -> None:
    """A fresh rule's states whose order no longer matches end their episode (done once: later
    scans see the end as a change of words)."""
    still = exists(select(ORDER.c.id).where(ORDER.c.id == STATE.c.order_id, rule.match))
    session.execute(update(STATE).where(STATE.c.rule_key == rule.rule.key, STATE.c.active == true(), ~still)
                    .values(active=False))


# --- acting on the changes -------------------------------------------------------------------


@dataclass
class Changes:
    started: dict[int, list[ScanRule]]
    ended: dict[int, list[ScanRule]]
    words: dict[int, list[int]]  # the words to store, before the started matches are decided


def classify(plan: Plan, chunk: Iterable[tuple[int, list[int], list[int]]]) -> Changes:
    changes = Changes({}, {}, {})
    for order_id, now, before in chunk:
        keep = [0] * plan.words
        for r in plan.rules:
            was = r.ready and has(before, r)
            if not r.due:
                if was:
                    keep[r.word] |= r.bit
            elif has(now, r) and not was:
                changes.started.setdefault(order_id, []).append(r)
            elif was and not has(now, r):
                changes.ended.setdefault(order_id, []).append(r)
            elif was:
                keep[r.word] |= r.bit
        changes.words[order_id] = keep
    return changes


def _states(session: Session, order_ids: Iterable[int], keys: Iterable[str]) -> dict[tuple[str, int], RuleOrderState]:
    order_ids, keys = sorted(set(order_ids)), sorted(set(keys))
    if not order_ids or not keys:
        return {}
    rows = session.exec(select(RuleOrderState).where(RuleOrderState.order_id.in_(order_ids),
                                                     RuleOrderState.rule_key.in_(keys))).scalars()
    return {(s.rule_key, s.order_id): s for s in rows}


def apply_chunk(session: Session, plan: Plan, chunk: list[tuple[int, list[int], list[int]]],
                catalogue: Catalogue, ctx: FactContext) -> int:
    """Act on one chunk of changed orders and store their words (flush only). Returns firings."""
    changes = classify(plan, chunk)
    enabled = {r.id: r for r in session.exec(select(RuleDefinitionRow).where(
        RuleDefinitionRow.id.in_([r.row_id for r in plan.rules]), RuleDefinitionRow.enabled.is_(True))).scalars()}
    involved = [(o, r) for o, rs in (*changes.started.items(), *changes.ended.items()) for r in rs]
    states = _states(session, [o for o, _ in involved], [r.rule.key for _, r in involved])
    for order_id, rules in changes.ended.items():
        for r in rules:
            state = states.get((r.rule.key, order_id))
            if state is not None and state.active:
                state.active = False
    orders = {o.id: o for o in session.exec(select(Order).where(Order.id.in_(list(changes.started)))).scalars()}
    fired = 0
    for order_id, rules in changes.started.items():
        for r in rules:
            if r.row_id not in enabled:
                continue  # disabled while we scanned: it neither fires nor keeps a bit
            state = states.get((r.rule.key, order_id))
            decision = decide_firing(r.rule.firing, service.state_of(state), True, ctx.now, ctx.calendar)
            if decision.reason == "quiet_hours":
                continue  # no bit: the next scan sees the match as new again
            if decision.fire:
                firing = service.fire(session, row=enabled[r.row_id], rule=r.rule, order=orders[order_id],
                                      state_row=state, decision=decision, trigger="scan", catalogue=catalogue, ctx=ctx)
                fired += firing is not None
            elif decision.state != service.state_of(state):
                service.store_state(session, r.rule.key, order_id, state, decision.state)
            changes.words[order_id][r.word] |= r.bit
    session.flush()
    store_words(session, changes.words)
    return fired


def store_words(session: Session, words: dict[int, list[int]]) -> None:
    ids = sorted(words)
    session.execute(delete(MASK).where(MASK.c.order_id.in_(ids)))
    rows = [{"order_id": i, "words": format_words(words[i])} for i in ids if any(words[i])]
    if rows:
        session.execute(insert(MASK), rows)


def refire_due(session: Session, plan: Plan, rule: ScanRule, catalogue: Catalogue, ctx: FactContext, *,
               after: int, limit: int) -> tuple[int, int | None]:
    """`every_n_hours`: fire again for orders still matching whose interval has passed, one page of
    states after order id `after`. Returns (firings, the last order id seen or None at the end)."""
    every = timedelta(hours=rule.rule.firing.every_hours or 0)
    rows = session.execute(
        select(STATE.c.order_id, MASK.c.words).join(MASK, MASK.c.order_id == STATE.c.order_id)
        .where(STATE.c.rule_key == rule.rule.key, STATE.c.last_fired_at <= ctx.now - every,
               STATE.c.order_id > after)
        .order_by(STATE.c.order_id).limit(limit)
    ).all()
    ids = [order_id for order_id, words in rows if has(parse_words(words, plan.words), rule)]
    row = session.get(RuleDefinitionRow, rule.row_id)
    states = _states(session, ids, [rule.rule.key])
    fired = 0
    for order in session.exec(select(Order).where(Order.id.in_(ids)).order_by(Order.id)).scalars():
        state = states.get((rule.rule.key, order.id))
        decision = decide_firing(rule.rule.firing, service.state_of(state), True, ctx.now, ctx.calendar)
        if decision.fire and row is not None and row.enabled:
            fired += service.fire(session, row=row, rule=rule.rule, order=order, state_row=state, decision=decision,
                                  trigger="scan", catalogue=catalogue, ctx=ctx) is not None
    session.flush()
    return fired, (rows[-1][0] if len(rows) == limit else None)


def mark_scanned(session: Session, plan: Plan, now: datetime) -> None:
    """After a complete pass: fresh rules have their baseline, due rules their scan time. A rule
    re-enabled meanwhile lost its slot and stays fresh."""
    for r in plan.rules:
        values: dict[str, Any] = {}
        if not r.ready:
            values["scan_ready"] = True
        if r.due:
            values["last_scan_at"] = now
        if values:
            session.execute(update(RuleDefinitionRow.__table__).where(
                RuleDefinitionRow.__table__.c.id == r.row_id, RuleDefinitionRow.__table__.c.scan_slot == r.slot,
                RuleDefinitionRow.__table__.c.enabled == true()).values(**values))


__all__ = ["Plan", "ScanRule", "apply_chunk", "assign_slots", "build_plan", "changed_orders", "classify",
           "end_stale_episodes", "format_words", "mark_scanned", "parse_words", "refire_due"]
