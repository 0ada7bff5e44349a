"""The monitor: every enabled time rule over the open orders, in one pass per worker (backend/rules/scan.py).

Two groups (issue 15): the rules on the due-time index (backend/rules/due_index.py) are fired by
the job `rules_due` when their moment comes; for them this pass is a reconciliation, run every
`reconcile_interval_seconds` (hourly) and after one is enabled or republished, with its own match
words. A firing it makes is a path that missed an order change: the admins are told. The other
time rules (not monotone in one column, `every_n_hours`) are scanned every minute as before.

Partitions (backend/worker/partitions.py): the job `rules_scan` runs in every worker over the
order partitions that worker holds (`order_id % P`, the same partitions as the due batches); each
commit is fenced by those partitions' leases. A rule's baseline and last scan time are kept per
(rule, partition), so the partitions a worker holds are passed in groups of the same state (one
query in steady state) and a partition taken over from a dead worker is scanned — reconciled — by
the taker at its next run, which the runner's heartbeat starts at once. Enabling or republishing
a rule clears its marks in every partition: every holder reconciles its partitions.

`scan_time_rules` gives new rules a slot, runs the one query that returns the orders whose matches
changed since the last scan, and acts on them in chunks of CHUNK orders, one transaction each
(firings, effects, outbox rows and the orders' new match words commit together). A worker killed
mid-scan loses only its open chunk; the next scan of those partitions (its own after a restart,
or the taker's) finds those orders changed again, and the firing's unique key (rule, order,
episode) keeps anything from firing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.db import new_session
from backend.inbox.models import InboxItem
from backend.orders.models import Order, load_predictions
from backend.rules import due_alerts as alerts
from backend.rules import due_build, scan
from backend.rules.context import catalogue_for, fact_context
from backend.rules.firing import evaluate_event_rules
from backend.rules.models import RuleDefinitionRow
from backend.settings import get_settings
from backend.worker import partitions
from backend.worker.lease import LeaseLost
from backend.worker.partitions import Claim

log = logging.getLogger("gendan.rules")
CHUNK = 500  # changed orders per transaction
SCAN_JOB = "rules_scan"  # the worker job, and the name its partition leases go by
OVERDUE_JOB = "rules_overdue_todos"
BATCH = 500
BULK_FIRING = True  # a chunk's firings written set-based (backend/rules/bulk.py); False: one at a time


def check_time_rules(bind: Engine | Connection, now: datetime, *, lock: bool = True, claim: Claim | None = None) -> int:
    """Worker job `rules_scan`: the scanned time rules every minute, the reconciliation of the
    indexed ones when it is due (hourly, or one was enabled or republished), in this worker's
    partitions. Returns firings."""
    return scan_time_rules(bind, now, lock=lock, claim=claim, passes=_passes)


def scan_time_rules(bind: Engine | Connection, now: datetime, *, lock: bool = True, claim: Claim | None = None,
                    passes=None) -> int:
    """One pass over all enabled time rules (indexed or not) in the partitions this worker holds
    (`claim`, by default `partitions.held`). Returns the number of firings.

    A worker frozen or killed mid-scan loses its partitions after `worker_lease_seconds`; another
    takes them over and scans them, and the frozen one's late commits are fenced. `lock=False`
    scans every partition without leases (tests use it to let two scanners collide)."""
    run = passes or _scan
    if not lock:
        settings = get_settings()
        claim = Claim(SCAN_JOB, "", settings.worker_partitions, timedelta(seconds=settings.worker_lease_seconds),
                      everything=True)
    elif claim is None:
        claim = partitions.held(bind, SCAN_JOB)
    if not claim.held:
        return 0  # more workers than partitions: nothing is ours
    try:
        return run(bind, now, claim)
    except LeaseLost as lost:
        log.warning("rules scan: %s taken over by another worker; it scans them now", lost)
        return 0


@contextmanager
def _fenced(bind: Engine | Connection, claim: Claim) -> Iterator[Session]:
    """A session whose commit is fenced by the partitions' leases (a holder that lost one writes nothing).
    A frozen scanner's transaction (its row locks) is ended by the server after `scan_lease_seconds`
    idle: a chunk thinks in Python between its statements for longer than a due batch does."""
    with new_session(bind) as session:
        claim.bound(session, get_settings().scan_lease_seconds)
        yield session
        claim.fence(session)
        session.commit()


def _passes(bind: Engine | Connection, now: datetime, claim: Claim) -> int:
    fired = _scan(bind, now, claim, indexed=False)
    if not due_build.pending(bind):  # a half-built index is not a missed path: wait for it
        fired += reconcile(bind, now, claim)
    return fired


def reconcile(bind: Engine | Connection, now: datetime, claim: Claim | None = None) -> int:
    """The one-pass scan over the indexed rules, in the partitions where it is due; tells the admins
    about any firing it makes that the index did not have due (a missed path). Returns the firings."""
    claim = claim if claim is not None else partitions.held(bind, SCAN_JOB)
    fired = _scan(bind, now, claim, indexed=True)
    if fired:
        alerts.missed_firings(bind, now, claim)
    return fired


def _scan(bind: Engine | Connection, now: datetime, claim: Claim, *, indexed: bool | None = None) -> int:
    """Pass over the claim's partitions, in groups whose rules share their baseline and due-ness
    (one group, one query, in steady state)."""
    every = timedelta(seconds=get_settings().reconcile_interval_seconds) if indexed else None
    with _fenced(bind, claim) as session:
        rows = scan.assign_slots(session, indexed=indexed)
        marks = scan.partition_marks(session, rows, claim.held, now, every)
        catalogue = catalogue_for(session)
        ctx = fact_context(now, session=session)
    groups: dict[tuple, list[int]] = {}
    for part, mark in marks.items():
        groups.setdefault(mark, []).append(part)
    fired = 0
    for mark, parts in groups.items():
        if indexed and not any(is_due for _, _, is_due in mark):
            continue  # reconciled within the hour here
        plan = scan.build_plan(rows, catalogue, ctx, every=every, marks=mark, claim=claim.only(parts),
                               **({"mask": scan.RECONCILE_MASK, "trigger": "reconcile"} if indexed else {}))
        fired += _scan_parts(bind, now, plan, catalogue, ctx, parts, claim.count)
    return fired


def _scan_parts(bind: Engine | Connection, now: datetime, plan: scan.Plan, catalogue, ctx, parts: list[int],
                count: int) -> int:
    scan.pause_rules(bind, dict(plan.broken), now)
    if not plan.rules:
        return 0
    try:
        changed = _changed(bind, plan)
    except scan.RUN_ERRORS:  # one rule the database cannot run: pause it, the others still run
        plan = scan.without_failing(bind, plan, now)
        if not plan.rules:
            return 0
        changed = _changed(bind, plan)
    fired = 0
    for start in range(0, len(changed), CHUNK):
        with _fenced(bind, plan.claim) as session:
            fired += scan.apply_chunk(session, plan, changed[start:start + CHUNK], catalogue, ctx,
                                      bulk=BULK_FIRING)
    for rule in plan.rules:
        if rule.due and rule.rule.firing.mode == "every_n_hours":
            after: int | None = 0
            while after is not None:
                with _fenced(bind, plan.claim) as session:
                    got, after = scan.refire_due(session, plan, rule, catalogue, ctx, after=after, limit=CHUNK,
                                                 bulk=BULK_FIRING)
                fired += got
    with _fenced(bind, plan.claim) as session:
        scan.mark_scanned(session, plan, now, parts, count)
    return fired


def _changed(bind: Engine | Connection, plan: scan.Plan) -> list[tuple[int, list[int], list[int]]]:
    with _fenced(bind, plan.claim) as session:
        for rule in plan.rules:
            if not rule.ready:
                scan.end_stale_episodes(session, rule, plan)
        return scan.changed_orders(session, plan)


def signal_overdue_todos(bind: Engine | Connection, now: datetime, *, claim: Claim | None = None) -> int:
    """Worker job: the `todo_overdue` event for every order with an open to-do past its due time,
    in the order partitions this worker holds (`claim`, by default `partitions.held`), each batch's
    commit fenced by them.

    Runs only when an enabled event rule listens to it. Repeats are harmless: the firing policy
    (once per episode / order, every N hours) decides, as for any event.
    """
    claim = claim if claim is not None else partitions.held(bind, OVERDUE_JOB)
    if not claim.held:
        return 0
    with new_session(bind) as session:
        listening = [
            row for row in session.exec(select(RuleDefinitionRow).where(
                RuleDefinitionRow.enabled.is_(True), RuleDefinitionRow.is_time_rule.is_(False),
                RuleDefinitionRow.status == "published")).scalars()
            if "todo_overdue" in (row.definition.get("trigger") or {}).get("events", ())
        ]
        if not listening:
            return 0
        order_ids = list(session.exec(
            select(InboxItem.order_id).where(InboxItem.state == "open", InboxItem.due_at <= now,
                                             InboxItem.order_id.is_not(None), claim.where(InboxItem.order_id))
            .distinct().order_by(InboxItem.order_id)
        ).scalars())
    done = 0
    for start in range(0, len(order_ids), BATCH):
        try:
            with _fenced(bind, claim) as session:
                batch = session.exec(select(Order).where(Order.id.in_(order_ids[start:start + BATCH]))).scalars().all()
                load_predictions(session, batch)
                for order in batch:
                    evaluate_event_rules(session, order, changes={}, actor=None, now=now, is_new=False,
                                         events=[("todo_overdue", None)])
        except LeaseLost as lost:  # the rest is the taker's now
            log.warning("overdue to-dos: %s taken over by another worker", lost)
            break
        done += len(order_ids[start:start + BATCH])
    return done

