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

Partitions (issue 15): a pass runs over the order partitions a worker holds
(backend/worker/partitions.py): `Plan.claim` filters the orders, the words, the states, and fences
the commits; a rule's baseline and scan time are kept per (rule, partition) in
`rule_scan_partition` (`partition_marks`, `mark_scanned`), so each partition is scanned by its
holder, and one taken over from a dead worker is reconciled by the taker.

The words themselves and the classification of each order's changes are pure
(engine/rules/words.py), as is reading designed fields once per order (engine/rules/hoist.py).
"""

from __future__ import annotations

from collections.abc import Iterable
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from backend.db import new_session
from backend.orders.models import Order, load_predictions
from backend.rules import pause
from backend.rules.bulk import Pending, fire_many, insert_rows
from backend.rules.context import ORDER_FACTS, ORDER_JOINED
from backend.rules.due_index import is_indexed
from backend.rules.firing import fire, state_of, store_state
from backend.rules.matching import scope_clause
from backend.rules.models import (
    RuleDefinitionRow,
    RuleOrderMask,
    RuleOrderState,
    RuleReconcileMask,
    RuleScanPartition,
)
from engine.facts import Catalogue, FactContext
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.firing import decide_firing
from engine.rules.hoist import hoist_json
from engine.rules.words import bit_of, classify, format_words, has, parse_words, word_of

ORDER = Order.__table__
STATE = RuleOrderState.__table__
MASK = RuleOrderMask.__table__
RECONCILE_MASK = RuleReconcileMask.__table__
PARTS = RuleScanPartition.__table__


@dataclass(frozen=True)
class ScanRule:
    """An enabled time rule as the scan sees it."""

    row_id: int
    slot: int
    ready: bool  # its matches were recorded by a completed scan
    due: bool  # its interval has passed: act on its changes now (otherwise keep last scan's bits)
    rule: RuleDefinition
    match: Any  # scope AND condition, over the order table
    silent: bool = False  # enabled "from now on" and not yet baselined: record its matches, fire none

    @property
    def word(self) -> int:
        return word_of(self.slot)

    @property
    def bit(self) -> int:
        return bit_of(self.slot)


@dataclass(frozen=True)
class Plan:
    rules: tuple[ScanRule, ...]
    words: int
    statuses: tuple[str, ...] = ()  # the union of the rules' status scopes; () when one has none
    broken: tuple[tuple[int, str], ...] = ()  # (row id, error) of rules whose condition failed to compile
    mask: Any = MASK  # where this pass keeps its words: the minute scan's, or the reconciliation's
    trigger: str = "scan"  # recorded on its firings ("reconcile" for the reconciliation)
    claim: Any = None  # the worker's partitions this pass covers (backend/worker/partitions.Claim); None: all

    def part(self, order_id: Any) -> Any:
        """The SQL filter: `order_id` is in this pass's partitions."""
        return self.claim.where(order_id) if self.claim is not None else true()

    def prefilter(self) -> Any:
        """Orders any rule can look at (in this pass's partitions)."""
        return and_(ORDER.c.status.in_(self.statuses) if self.statuses else true(), self.part(ORDER.c.id))


# --- plan ------------------------------------------------------------------------------------


def due(row: RuleDefinitionRow, now: datetime, every: timedelta | None = None, *, ready: bool | None = None,
        last: datetime | None = None) -> bool:
    """Whether the rule's interval has passed. `every` (the reconciliation's interval) replaces the
    rule's own; a rule without a baseline is then always due (reconciled after enabling).
    `ready` / `last`: one partition's baseline and scan time (`partition_marks`), else the rule's."""
    if ready is None:
        ready, last = row.scan_ready, row.last_scan_at
    if every is not None and not ready:
        return True
    every = every or timedelta(minutes=(row.definition.get("trigger") or {}).get("every_minutes", 1))
    return last is None or now - last >= every - timedelta(seconds=1)


def partition_marks(session: Session, rows: list[RuleDefinitionRow], parts: list[int], now: datetime,
                    every: timedelta | None = None) -> dict[int, tuple[tuple[int, bool, bool], ...]]:
    """Per partition: each rule's (row id, has a baseline there, is due there), from its
    `rule_scan_partition` row (one of an earlier slot counts as none)."""
    stored = {(m.rule_id, m.partition): m for m in session.exec(select(RuleScanPartition).where(
        RuleScanPartition.rule_id.in_([r.id for r in rows]), RuleScanPartition.partition.in_(parts))).scalars()} \
        if rows and parts else {}
    marks = {}
    for p in parts:
        marks[p] = []
        for row in rows:
            m = stored.get((row.id, p))
            valid = m is not None and m.slot == row.scan_slot
            ready = valid and m.ready
            marks[p].append((row.id, ready, due(row, now, every, ready=ready, last=m.scanned_at if valid else None)))
        marks[p] = tuple(marks[p])
    return marks


def assign_slots(session: Session, *, indexed: bool | None = None) -> list[RuleDefinitionRow]:
    """The enabled, scannable time rules, each with a slot (the lowest free one for new ones).
    `indexed`: only the rules on the due-time index (True, the reconciliation's) or only the
    others (False, the minute scan's); each group numbers its own slots."""
    rows = list(session.exec(
        select(RuleDefinitionRow).where(
            RuleDefinitionRow.enabled.is_(True), RuleDefinitionRow.status == "published",
            RuleDefinitionRow.is_time_rule.is_(True), RuleDefinitionRow.is_event_only.is_(False),
        ).order_by(RuleDefinitionRow.id)
    ).scalars())
    if any(r.scan_slot is None for r in rows) and session.get_bind().dialect.name == "postgresql":
        # several workers scan their partitions at once: one gives the slots, the others wait for
        # it here (row locks, in id order) and read its slots
        rows = list(session.exec(
            select(RuleDefinitionRow).where(
                RuleDefinitionRow.enabled.is_(True), RuleDefinitionRow.status == "published",
                RuleDefinitionRow.is_time_rule.is_(True), RuleDefinitionRow.is_event_only.is_(False),
            ).order_by(RuleDefinitionRow.id).with_for_update().execution_options(populate_existing=True)
        ).scalars())
    taken = {r.scan_slot for r in rows if r.scan_slot is not None}
    free = (s for s in range(len(rows) + len(taken) + 1) if s not in taken)
    for row in rows:  # slots are unique over all time rules: the full scan may run any group's rules
        if row.scan_slot is None:
            row.scan_slot, row.scan_ready = next(free), False
            session.execute(delete(PARTS).where(PARTS.c.rule_id == row.id))  # every partition: no baseline
    session.flush()
    if indexed is not None:
        rows = [row for row in rows if is_indexed(row) == indexed]
    return rows


def build_plan(rows: Iterable[RuleDefinitionRow], catalogue: Catalogue, ctx: FactContext, *, mask: Any = MASK,
               trigger: str = "scan", every: timedelta | None = None,
               marks: tuple[tuple[int, bool, bool], ...] | None = None, claim: Any = None) -> Plan:
    """The pass over `rows`; `marks` (`partition_marks`): each rule's baseline and due-ness in the
    partitions of `claim`, instead of the rule row's own."""
    by_row = {row_id: (ready, is_due) for row_id, ready, is_due in marks or ()}
    loaded = []
    broken: list[tuple[int, str]] = []
    for row in rows:
        rule = load_rule(row.definition)
        try:
            loaded.append((row, rule, compile_condition(rule.condition, catalogue, ORDER_FACTS, ctx)))
        except NotCompilable:
            continue  # a form field it reads was removed since publishing: it cannot be scanned
        except (RecursionError, MemoryError, ArithmeticError, TypeError, ValueError) as exc:
            broken.append((row.id, pause.error_text(exc)))  # published before the limits: paused, the others run
    scopes = [rule.scope.statuses for _, rule, _ in loaded]
    # the query reads only orders in the union of the rules' statuses: a rule whose statuses are
    # that union need not check them again (a hundred string comparisons per order saved)
    union = tuple(sorted({s for group in scopes for s in group})) if scopes and all(scopes) else ()
    rules = []
    for row, rule, condition in loaded:
        scope = rule.scope
        if union and tuple(sorted(scope.statuses)) == union:
            scope = scope.model_copy(update={"statuses": ()})
        ready, is_due = by_row.get(row.id, (row.scan_ready, due(row, ctx.now, every)))
        rules.append(ScanRule(row.id, row.scan_slot, ready, is_due, rule,
                              and_(scope_clause(rule.model_copy(update={"scope": scope})), condition),
                              silent=not ready and row.start_from_now))
    words = max((r.word for r in rules), default=0) + 1
    return Plan(tuple(sorted(rules, key=lambda r: r.slot)), words, union, tuple(broken), mask, trigger, claim)


# --- the one query ---------------------------------------------------------------------------


def changed_orders_query(plan: Plan, dialect: str = "postgresql") -> Any:
    """(order id, words now, words at the last scan) for every order whose words differ, or that
    matches a rule without a baseline."""
    if dialect == "postgresql":
        orders, matches = hoist_json(ORDER, [r.match for r in plan.rules], plan.prefilter(), ORDER_JOINED)
        where = true()
    else:
        orders, matches, where = ORDER, [r.match for r in plan.rules], plan.prefilter()
    terms: list[list[Any]] = [[] for _ in range(plan.words)]
    for r, match in zip(plan.rules, matches, strict=True):
        terms[r.word].append(case((match, literal(r.bit, BigInteger)), else_=literal(0, BigInteger)))
    words = [reduce(lambda a, b: a + b, t) if t else literal(0, BigInteger) for t in terms]
    now = select(orders.c.id.label("order_id"), *[w.label(f"w{i}") for i, w in enumerate(words)]) \
        .where(where).subquery("now_words")
    MASK = plan.mask  # noqa: N806  (the pass's own words)
    if plan.claim is not None:  # only this pass's partitions (the table unfiltered when they are all)
        MASK = select(MASK).where(plan.part(MASK.c.order_id)).subquery("last_words")  # noqa: N806
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


def end_stale_episodes(session: Session, rule: ScanRule, plan: Plan | None = None) -> None:
    """A fresh rule's states whose order no longer matches end their episode (done once: later
    scans see the end as a change of words); in the plan's partitions."""
    still = exists(select(ORDER.c.id).where(ORDER.c.id == STATE.c.order_id, rule.match))
    session.execute(update(STATE).where(STATE.c.rule_key == rule.rule.key, STATE.c.active == true(), ~still,
                                        plan.part(STATE.c.order_id) if plan is not None else true())
                    .values(active=False))


# --- acting on the changes -------------------------------------------------------------------


def _states(session: Session, order_ids: Iterable[int], keys: Iterable[str]) -> dict[tuple[str, int], RuleOrderState]:
    order_ids, keys = sorted(set(order_ids)), sorted(set(keys))
    if not order_ids or not keys:
        return {}
    rows = session.exec(select(RuleOrderState).where(RuleOrderState.order_id.in_(order_ids),
                                                     RuleOrderState.rule_key.in_(keys))).scalars()
    return {(s.rule_key, s.order_id): s for s in rows}


def apply_chunk(session: Session, plan: Plan, chunk: list[tuple[int, list[int], list[int]]],
                catalogue: Catalogue, ctx: FactContext, *, bulk: bool = True) -> int:
    """Act on one chunk of changed orders and store their words (flush only). Returns firings.

    `bulk`: the chunk's firings are planned together and written set-based (backend/rules/bulk.py);
    False fires them one at a time (the path the differential test and the bench compare with)."""
    changes = classify(plan.rules, plan.words, chunk)
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
    load_predictions(session, orders.values())
    pending: list[Pending] = []
    for order_id, rules in changes.started.items():
        for r in rules:
            if r.row_id not in enabled:
                continue  # disabled while we scanned: it neither fires nor keeps a bit
            if r.silent:  # "from now on": a match present at enabling is the baseline, not a start
                changes.words[order_id][r.word] |= r.bit
                continue
            state = states.get((r.rule.key, order_id))
            decision = decide_firing(r.rule.firing, state_of(state), True, ctx.now, ctx.calendar)
            if decision.reason == "quiet_hours":
                continue  # no bit: the next scan sees the match as new again
            if decision.fire:
                pending.append(Pending(enabled[r.row_id], r.rule, orders[order_id], state, decision))
            elif decision.state != state_of(state):
                store_state(session, r.rule.key, order_id, state, decision.state)
            changes.words[order_id][r.word] |= r.bit
    fired = _fire(session, pending, bulk=bulk, catalogue=catalogue, ctx=ctx, trigger=plan.trigger)
    session.flush()
    store_words(session, changes.words, plan.mask)
    return fired


def _fire(session: Session, pending: list[Pending], *, bulk: bool, catalogue: Catalogue, ctx: FactContext,
          trigger: str = "scan") -> int:
    if bulk:
        return fire_many(session, pending, trigger=trigger, catalogue=catalogue, ctx=ctx)
    return sum(fire(session, row=p.row, rule=p.rule, order=p.order, state_row=p.state, decision=p.decision,
                    trigger=trigger, catalogue=catalogue, ctx=ctx) is not None for p in pending)


def store_words(session: Session, words: dict[int, list[int]], mask: Any = MASK) -> None:
    MASK = mask  # noqa: N806
    ids = sorted(words)
    session.execute(delete(MASK).where(MASK.c.order_id.in_(ids)))
    rows = [{"order_id": i, "words": format_words(words[i])} for i in ids if any(words[i])]
    if session.get_bind().dialect.name == "postgresql":
        insert_rows(session, MASK, rows, unique=())  # one statement (psycopg's executemany sends one a row)
    elif rows:
        session.execute(insert(MASK), rows)


def refire_due(session: Session, plan: Plan, rule: ScanRule, catalogue: Catalogue, ctx: FactContext, *,
               after: int, limit: int, bulk: bool = True) -> tuple[int, int | None]:
    """`every_n_hours`: fire again for orders still matching whose interval has passed, one page of
    states after order id `after`. Returns (firings, the last order id seen or None at the end)."""
    every = timedelta(hours=rule.rule.firing.every_hours or 0)
    MASK = plan.mask  # noqa: N806
    rows = session.execute(
        select(STATE.c.order_id, MASK.c.words).join(MASK, MASK.c.order_id == STATE.c.order_id)
        .where(STATE.c.rule_key == rule.rule.key, STATE.c.last_fired_at <= ctx.now - every,
               STATE.c.order_id > after, plan.part(STATE.c.order_id))
        .order_by(STATE.c.order_id).limit(limit)
    ).all()
    ids = [order_id for order_id, words in rows if has(parse_words(words, plan.words), rule)]
    row = session.get(RuleDefinitionRow, rule.row_id)
    states = _states(session, ids, [rule.rule.key])
    pending: list[Pending] = []
    orders = session.exec(select(Order).where(Order.id.in_(ids)).order_by(Order.id)).scalars().all()
    load_predictions(session, orders)
    for order in orders:
        state = states.get((rule.rule.key, order.id))
        decision = decide_firing(rule.rule.firing, state_of(state), True, ctx.now, ctx.calendar)
        if decision.fire and row is not None and row.enabled:
            pending.append(Pending(row, rule.rule, order, state, decision))
    fired = _fire(session, pending, bulk=bulk, catalogue=catalogue, ctx=ctx, trigger=plan.trigger)
    session.flush()
    return fired, (rows[-1][0] if len(rows) == limit else None)


def mark_scanned(session: Session, plan: Plan, now: datetime, parts: list[int] | None = None,
                 count: int | None = None) -> None:
    """After a complete pass: fresh rules have their baseline, due rules their scan time. A rule
    re-enabled meanwhile lost its slot and stays fresh. `parts` (of `count` partitions): the pass
    covered those partitions only; each gets its row in `rule_scan_partition`, and the rule row's
    `scan_ready` says every partition has its baseline."""
    table = RuleDefinitionRow.__table__
    current = {row_id: slot for row_id, slot in session.execute(select(table.c.id, table.c.scan_slot).where(
        table.c.id.in_([r.row_id for r in plan.rules]), table.c.enabled == true())).all()}
    for r in plan.rules:
        if current.get(r.row_id) != r.slot:
            continue  # disabled or re-enabled meanwhile: fresh again
        values: dict[str, Any] = {}
        if parts is not None:
            _mark_parts(session, r, parts, now)
            if not r.ready and _ready_parts(session, r) >= (count or len(parts)):
                values["scan_ready"] = True
        elif not r.ready:
            values["scan_ready"] = True
        if r.due:
            values["last_scan_at"] = now
        if values:
            session.execute(update(table).where(table.c.id == r.row_id, table.c.scan_slot == r.slot,
                                                table.c.enabled == true()).values(**values))


def _mark_parts(session: Session, r: ScanRule, parts: list[int], now: datetime) -> None:
    insert_ = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite_dialect.insert
    stmt = insert_(PARTS).values([{"rule_id": r.row_id, "partition": p, "slot": r.slot, "ready": True,
                                   "scanned_at": now if r.due else None} for p in parts])
    kept = case((PARTS.c.slot == r.slot, PARTS.c.scanned_at), else_=None)
    session.execute(stmt.on_conflict_do_update(index_elements=["rule_id", "partition"], set_={
        "slot": stmt.excluded.slot, "ready": True, "scanned_at": stmt.excluded.scanned_at if r.due else kept}))


def _ready_parts(session: Session, r: ScanRule) -> int:
    return session.execute(select(func.count()).select_from(PARTS).where(
        PARTS.c.rule_id == r.row_id, PARTS.c.slot == r.slot, PARTS.c.ready == true())).scalar_one()


# --- a rule the database cannot run ----------------------------------------------------------
# Limits at publish (engine/rules/limits.py) keep a rule's SQL well inside both databases' limits,
# but a rule stored before them, or one that fails only on some rows (a float8 overflow), would
# still make the one query fail for every rule. On such a failure each rule's part is run alone;
# the rules the database refuses are paused (disabled, with the error in the audit log and a
# notification to their author) and the query runs again without them.

RUN_ERRORS = (SQLAlchemyError, RecursionError, MemoryError)  # what running one rule's SQL can raise


def rule_error(bind: Engine | Connection, plan: Plan, rule: ScanRule) -> str | None:
    """The database's error when this rule's part of the one query runs alone, or None. One full
    pass over the orders per rule: run only after the one query failed, and the failing rules are
    then paused, so it happens once per bad rule."""
    alone = Plan((rule,), rule.word + 1, plan.statuses, mask=plan.mask, trigger=plan.trigger, claim=plan.claim)
    try:
        with new_session(bind) as session:
            query = changed_orders_query(alone, session.get_bind().dialect.name)
            session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    except RUN_ERRORS as exc:
        return pause.error_text(exc)
    return None


def without_failing(bind: Engine | Connection, plan: Plan, now: datetime) -> Plan:
    """The plan without the rules the database cannot run, each of them paused (committed)."""
    failing = {r.row_id: error for r in plan.rules if (error := rule_error(bind, plan, r)) is not None}
    pause_rules(bind, failing, now)
    kept = tuple(r for r in plan.rules if r.row_id not in failing)
    return Plan(kept, plan.words, plan.statuses, mask=plan.mask, trigger=plan.trigger, claim=plan.claim)


def pause_rules(bind: Engine | Connection, errors: dict[int, str], now: datetime) -> None:
    """Pause each rule (row id -> error), committed in a transaction of its own."""
    if not errors:
        return
    with new_session(bind) as session:
        for row_id, error in errors.items():
            pause.pause_rule(session, session.get(RuleDefinitionRow, row_id), error, now)
        session.commit()


__all__ = ["Plan", "ScanRule", "apply_chunk", "assign_slots", "build_plan", "changed_orders", "changed_orders_query",
           "end_stale_episodes", "mark_scanned", "partition_marks", "pause_rules", "refire_due", "rule_error",
           "without_failing"]
