"""The due-time index: when each indexed time rule becomes true for each order, and firing it then.

Why this exists: the one-pass scan (scan.py) notices a time rule by recomputing every open order's
matches each minute — cost proportional to the order book, and up to a minute late. Most time
conditions become true at a computable moment (engine/rules/due.py); those moments are kept in
`rule_due` (rule version, order, due_at; indexed on due_at) and the worker fires what is due:

- **An order change** (the pipeline stage `rules_due`, after the event rules) recomputes only that
  order's moments, in the order's transaction; when the condition is false now, an active episode
  ends there (as the scan would end it).
- **Enabling or republishing** a rule computes its moments for the orders in its scope whose other
  terms hold (those terms compiled to SQL), set-based, in the request or, for a large rule, in the
  worker (due_build.py).
- **The worker job `rules_due`** (when the next moment comes or an order change announces an
  earlier one, due_wake.py; one indexed query when nothing is due) takes the
  due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers take different rows), checks the
  condition on the order as it is, decides with the firing policy and fires through the bulk path
  (bulk.py) under the firing's unique key (rule, order, episode); fired or not, the row goes in the
  same transaction. A worker killed mid-batch rolls back and the rows are due again.
- **The reconciliation** (tasks.py) still runs the one-pass scan over the indexed rules, hourly and
  after a rule is enabled or republished; a firing it makes that no due row explains means a path
  missed an order change: it tells the admins.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Text, cast, delete, select, text, true, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.clock import utcnow
from backend.db import new_session
from backend.orders.models import Order, load_predictions
from backend.rules.bulk import Pending, fire_many, insert_rows
from backend.rules.context import catalogue_for, fact_context, order_values
from backend.rules.firing import state_of, store_state
from backend.rules.matching import in_scope
from backend.rules.models import RuleDefinitionRow, RuleDue, RuleDueBuild, RuleOrderState
from backend.worker.partitions import Claim
from engine.facts import Catalogue, build_facts, default_catalogue
from engine.facts.catalogue import DERIVED_SOURCES
from engine.jsonlogic import var_names
from engine.rules import compiled
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.due import NEVER, DuePlan, due_from_source, due_moment, plan_due, rule_kind
from engine.rules.firing import decide_firing

log = logging.getLogger("gendan.rules")
DUE = RuleDue.__table__
ORDER = Order.__table__
RULES = RuleDefinitionRow.__table__
STATE = RuleOrderState.__table__
BATCH = 500  # due rows per transaction, at most
#: a due batch's transaction aims at this much wall time (the worker's `Pace`): under load a batch
#: of 500 spends seconds planning between its statements, longer than the partition lease, whose
#: length is also the transaction's idle timeout on the server; smaller batches commit sooner
BATCH_SECONDS = 1.0
MIN_BATCH = 20
BUILD_CHUNK = 5000  # orders read per chunk when a rule's moments are built
QUIET_RETRY = timedelta(minutes=5)  # quiet hours: look again then
CHANNEL = "gendan_due"  # pg_notify channel: "a moment at <epoch seconds> was written" (backend/rules/due_wake.py)
#: a change announces a moment only when it falls this soon; the listening worker probes the index
#: more often than this (due_wake.PROBE_SECONDS), so a later moment is read well before it is due
ANNOUNCE_HORIZON = timedelta(seconds=120)


@dataclass(frozen=True)
class IndexedRule:
    row_id: int
    rule: RuleDefinition
    plan: DuePlan

    @cached_property
    def rest_key(self) -> str:
        """The other terms as text: rules sharing them (a stage test, say) evaluate them once."""
        return json.dumps(self.plan.rest, sort_keys=True)

    @cached_property
    def reads_designed(self) -> bool:
        return any(name.startswith("data.") for part in self.plan.rest for name in var_names(part))


_PARSED: dict[str, tuple[RuleDefinition, DuePlan | None]] = {}


def _parse(stored: str) -> tuple[RuleDefinition, DuePlan | None]:
    got = _PARSED.get(stored)
    if got is None:
        if len(_PARSED) > 5000:
            _PARSED.clear()
        rule = load_rule(json.loads(stored))
        plan = plan_due(rule.condition) if rule_kind(rule, compiles=True) == "indexed" else None
        got = _PARSED[stored] = (rule, plan)
    return got


def indexed_rules(session: Session) -> list[IndexedRule]:
    """The enabled published time rules on the index (parsed once per stored text)."""
    rows = session.execute(select(RULES.c.id, cast(RULES.c.definition, Text)).where(
        RULES.c.enabled.is_(True), RULES.c.status == "published", RULES.c.is_time_rule.is_(True),
        RULES.c.is_event_only.is_(False)).order_by(RULES.c.id)).all()
    out = []
    for row_id, stored in rows:
        rule, plan = _parse(stored)
        if plan is not None:
            out.append(IndexedRule(row_id, rule, plan))
    return out


def is_indexed(row: RuleDefinitionRow) -> bool:
    """Whether this rule version is on the index (the scan leaves it to the reconciliation)."""
    return row.is_time_rule and not row.is_event_only and rule_kind(load_rule(row.definition), compiles=True) == "indexed"


# --- an order changed ------------------------------------------------------------------------


def recompute_orders(session: Session, orders: Sequence[Order], now: datetime, *,
                     rules: list[IndexedRule] | None = None) -> None:
    """These orders' moments again (flush only): their rows are replaced, and an active episode
    whose condition is false now ends."""
    rules = indexed_rules(session) if rules is None else rules
    if not rules or not orders:
        return
    ids = [o.id for o in orders]
    session.flush()
    session.execute(delete(DUE).where(DUE.c.order_id.in_(ids)))
    # the other terms read no time fact: facts without the derived ones (the working-time index of
    # a new second costs more than the rest); designed fields need the published forms' catalogue
    catalogue = _timeless(catalogue_for(session) if any(r.reads_designed for r in rules) else default_catalogue())
    ctx = fact_context(now, session=session)
    rows: list[dict[str, Any]] = []
    ended: list[tuple[str, int]] = []
    load_predictions(session, orders)
    for order in orders:
        values = order_values(order)
        facts = build_facts(values, catalogue, ctx)
        rest: dict[str, bool] = {}  # the other terms, once per distinct text
        for r in rules:
            if r.rest_key not in rest:
                rest[r.rest_key] = all(compiled.matches(part, facts) for part in r.plan.rest)
            due = NEVER
            if rest[r.rest_key] and in_scope(session, r.rule, order):
                due = due_from_source(r.plan.term, values.get(DERIVED_SOURCES[r.plan.term.fact][0]), ctx)
            if due.kind == "at":
                rows.append({"rule_id": r.row_id, "order_id": order.id, "due_at": due.at})
            if due.kind != "scan" and not (due.kind == "at" and due.at <= now):
                ended.append((r.rule.key, order.id))  # false now: an active episode ends, as the scan ends it
    if rows:
        _insert(session, rows)
        announce(session, min(r["due_at"] for r in rows), now)
    for start in range(0, len(ended), 2000):  # bounded parameters (a batch of 1,000 orders × 100 rules)
        session.execute(update(STATE).where(tuple_(STATE.c.rule_key, STATE.c.order_id).in_(ended[start:start + 2000]),
                                            STATE.c.active.is_(True)).values(active=False)
                        .execution_options(synchronize_session=False))
    if ended:
        gone = set(ended)
        for state in list(session.identity_map.values()):
            if isinstance(state, RuleOrderState) and (state.rule_key, state.order_id) in gone:
                session.expire(state)  # written past the ORM: read again if anyone looks


def _timeless(catalogue: Catalogue) -> Catalogue:
    return Catalogue({n: spec for n, spec in catalogue.fields.items() if spec.source != "derived"})


def on_order_change(session: Session, change: Any) -> None:
    """Pipeline stage `rules_due`: the changed order's moments, in its transaction."""
    recompute_orders(session, [change.order], change.now)


def on_order_changes(session: Session, changes: list[Any]) -> None:
    """The batched form (the bulk import): nothing without an indexed rule, else one pass."""
    rules = indexed_rules(session)
    if rules and changes:
        recompute_orders(session, [c.order for c in changes], changes[0].now, rules=rules)


def announce(session: Session, earliest: datetime, now: datetime) -> None:
    """Tell the listening workers (PostgreSQL) that a moment at `earliest` was written, when it
    falls within ANNOUNCE_HORIZON: `pg_notify` in this transaction, delivered at its commit and
    dropped on rollback. Flush only; nothing on SQLite (its worker polls)."""
    if earliest > now + ANNOUNCE_HORIZON or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_notify(:channel, :at)"),
                    {"channel": CHANNEL, "at": f"{earliest.timestamp():.3f}"})


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """One multi-row statement; a row already there (a concurrent recompute) takes the new moment."""
    insert_rows(session, DUE, rows, unique=("rule_id", "order_id"), update=("due_at",))


# --- a rule was enabled or republished -------------------------------------------------------


def build_rule(session: Session, row: RuleDefinitionRow, now: datetime, *, skip_matching: bool = False) -> int:
    """The rule's moments for every order in scope whose other terms hold, here and now (flush
    only; set-based where it can be, backend/rules/due_build.py). Returns the rows written.
    `skip_matching`: enabled "from now on", the orders matching now are the baseline (their
    states are written by definitions.baseline_event_rule), not due. Enabling and publishing
    call `due_build.queue_build`, which hands large rules to the worker."""
    from backend.rules import due_build  # it builds on this module

    session.execute(delete(DUE).where(DUE.c.rule_id == row.id))
    if not row.enabled or not is_indexed(row):
        return 0
    return due_build.build_orders(session, row, now, skip_matching=skip_matching)


def drop_rule(session: Session, row_id: int) -> None:
    session.execute(delete(DUE).where(DUE.c.rule_id == row_id))
    session.execute(delete(RuleDueBuild.__table__).where(RuleDueBuild.rule_id == row_id))


# --- the worker ------------------------------------------------------------------------------


@dataclass
class Pace:
    """How many due rows the worker's next batch takes: as many as it fired in `seconds` of wall
    time last time (between MIN_BATCH and BATCH, at most doubling a step), so a batch commits
    within a fraction of the lease whatever the load. One per worker job (due_wake.DueWake)."""

    size: int = BATCH
    seconds: float = BATCH_SECONDS
    clock: Callable[[], float] = time.monotonic

    def after(self, taken: int, elapsed: float) -> None:
        if taken < MIN_BATCH and elapsed <= self.seconds:
            return  # a handful says nothing about the rate
        rate = taken / max(elapsed, 1e-3)
        self.size = max(MIN_BATCH, min(BATCH, 2 * self.size, int(rate * self.seconds)))


def warm() -> None:
    """Load what a process's first firing would otherwise load inside its first batch's transaction
    (the translation catalogues: seconds of CPU under load, compiled from the .po files)."""
    from backend import i18n

    for locale in i18n.SUPPORTED:
        i18n.translations(locale)


def next_due(bind: Engine | Connection, claim: Claim | None = None) -> datetime | None:
    """The earliest moment in the index (what the worker sleeps until); with a claim, in its partitions."""
    query = select(DUE.c.due_at).order_by(DUE.c.due_at).limit(1)
    if claim is not None:
        query = query.where(claim.where(DUE.c.order_id))
    with new_session(bind) as session:
        return session.execute(query).scalar()


def fire_due(bind: Engine | Connection, now: datetime, *, limit: int = BATCH, linger: float = 0.0,
             clock: Callable[[], datetime] = utcnow, claim: Claim | None = None, pace: Pace | None = None) -> int:
    """Worker job: fire every (rule, order) whose moment has come. Returns the firings.

    `linger` (seconds): afterwards, sleep until the next moment when it falls within that time and
    fire it then (the worker's loop ticks each second; this keeps a moment from waiting for the
    next tick). Tests pass `now` and no linger: nothing reads the clock. `claim` (several workers,
    backend/worker/partitions.py): only the orders of its partitions, each commit fenced by it.
    `pace` (the worker's): batches sized by it, not `limit`, and it learns from each."""
    fired = _fire_all(bind, now, limit, claim, pace)
    if linger <= 0:
        return fired
    until = time.monotonic() + linger
    while (upcoming := next_due(bind, claim)) is not None:
        wait = (upcoming - clock()).total_seconds()
        if time.monotonic() + max(wait, 0) > until:
            break
        if wait > 0:
            time.sleep(wait)
        fired += _fire_all(bind, clock(), limit, claim, pace)
    return fired


def _fire_all(bind: Engine | Connection, now: datetime, limit: int, claim: Claim | None = None,
              pace: Pace | None = None) -> int:
    fired = 0
    while True:
        size = pace.size if pace is not None else limit
        started = pace.clock() if pace is not None else 0.0
        with new_session(bind) as session:
            if claim is not None:
                claim.bound(session)
            got, taken = _fire_batch(session, now, size, claim)
            if claim is not None:
                claim.fence(session)  # renews the partitions' leases; lost one: roll back, LeaseLost
            session.commit()
        if pace is not None and taken:
            pace.after(taken, pace.clock() - started)
        fired += got
        if taken < size:
            return fired


def _fire_batch(session: Session, now: datetime, limit: int, claim: Claim | None = None) -> tuple[int, int]:
    query = select(DUE.c.rule_id, DUE.c.order_id).where(DUE.c.due_at <= now).order_by(DUE.c.due_at).limit(limit)
    if claim is not None:
        query = query.where(claim.where(DUE.c.order_id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken = session.execute(query).all()
    if not taken:
        return 0, 0
    rules = {r.row_id: r for r in indexed_rules(session)}
    order_ids = sorted({o for _, o in taken})
    orders = {o.id: o for o in session.exec(select(Order).where(Order.id.in_(order_ids))).scalars()}
    load_predictions(session, orders.values())
    states = {(s.rule_key, s.order_id): s for s in session.exec(select(RuleOrderState).where(
        RuleOrderState.order_id.in_(order_ids),
        RuleOrderState.rule_key.in_({r.rule.key for r in rules.values()} or {""}))).scalars()}
    rows = {r.id: r for r in session.exec(select(RuleDefinitionRow).where(
        RuleDefinitionRow.id.in_(list(rules) or [0]))).scalars()}
    catalogue = catalogue_for(session)
    timeless = _timeless(catalogue)
    ctx = fact_context(now, session=session)
    facts: dict[int, dict[str, Any]] = {}
    pending: list[Pending] = []
    later: list[tuple[int, int, datetime]] = []
    done: list[tuple[int, int]] = []
    for rule_id, order_id in sorted(taken, key=lambda t: (t[1], t[0])):
        r, order = rules.get(rule_id), orders.get(order_id)
        done.append((rule_id, order_id))
        if r is None or order is None or not in_scope(session, r.rule, order):
            continue  # disabled, retired or out of scope since: nothing is due
        values = order_values(order)
        if order_id not in facts:
            facts[order_id] = build_facts(values, timeless, ctx)
        due = due_moment(r.plan, values, timeless, ctx, facts[order_id])
        if due.kind != "at":
            continue
        if due.at > now:  # the order changed without passing the pipeline: wait for its moment
            done.pop()
            later.append((rule_id, order_id, due.at))
            continue
        state = states.get((r.rule.key, order_id))
        decision = decide_firing(r.rule.firing, state_of(state), True, now, ctx.calendar)
        if decision.reason == "quiet_hours":
            done.pop()
            later.append((rule_id, order_id, now + QUIET_RETRY))
        elif decision.fire:
            pending.append(Pending(rows[rule_id], r.rule, order, state, decision))
        elif decision.state != state_of(state):
            store_state(session, r.rule.key, order_id, state, decision.state)
    fired = fire_many(session, pending, trigger="due", catalogue=catalogue, ctx=ctx) if pending else 0
    session.flush()
    if done:
        session.execute(delete(DUE).where(tuple_(DUE.c.rule_id, DUE.c.order_id).in_(done)))
    for rule_id, order_id, at in later:
        session.execute(update(DUE).where(DUE.c.rule_id == rule_id, DUE.c.order_id == order_id).values(due_at=at))
    return fired, len(taken)


def pending_at(session: Session, pairs: Iterable[tuple[int, int]], now: datetime) -> set[tuple[int, int]]:
    """Which (rule version, order) pairs have a due row at or before `now` (work the index has
    not done yet, so a reconciliation firing there is a race, not a missed path)."""
    pairs = list(pairs)
    if not pairs:
        return set()
    found = session.execute(select(DUE.c.rule_id, DUE.c.order_id).where(
        DUE.c.order_id.in_({o for _, o in pairs}), DUE.c.due_at <= now, true())).all()
    return {(r, o) for r, o in found} & set(pairs)


__all__ = ["ANNOUNCE_HORIZON", "BATCH_SECONDS", "CHANNEL", "IndexedRule", "Pace", "warm", "announce", "build_rule", "drop_rule", "fire_due", "indexed_rules", "is_indexed", "next_due",
           "on_order_change", "on_order_changes", "pending_at", "recompute_orders"]
