"""The monitor: every enabled time rule over all open orders, in one pass (backend/rules/scan.py).

Two groups (issue 15): the rules on the due-time index (backend/rules/due_index.py) are fired by
the job `rules_due` when their moment comes; for them this pass is a reconciliation, run every
`reconcile_interval_seconds` (hourly) and after one is enabled or republished, with its own match
words. A firing it makes is a path that missed an order change: the admins are told. The other
time rules (not monotone in one column, `every_n_hours`) are scanned every minute as before.

`scan_time_rules` takes the scan lease (backend/worker/lease.py), gives new rules a slot, runs the one query that returns the
orders whose matches changed since the last scan, and acts on them in chunks of CHUNK orders, one
transaction each (firings, effects, outbox rows and the orders' new match words commit together).
A worker killed mid-scan loses only its open chunk; the next scan finds those orders changed
again, and the firing's unique key (rule, order, episode) keeps anything from firing twice.
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
from backend.orders.models import Order
from backend.rules import due_alerts as alerts
from backend.rules import due_build, scan
from backend.rules.context import catalogue_for, fact_context
from backend.rules.firing import evaluate_event_rules
from backend.rules.models import RuleDefinitionRow
from backend.settings import get_settings
from backend.worker import lease

log = logging.getLogger("gendan.rules")
CHUNK = 500  # changed orders per transaction
SCAN_LEASE = "rules.scan"
BATCH = 500
BULK_FIRING = True  # a chunk's firings written set-based (backend/rules/bulk.py); False: one at a time


def check_time_rules(bind: Engine | Connection, now: datetime, *, lock: bool = True) -> int:
    """Worker job `rules_scan`: the scanned time rules every minute, the reconciliation of the
    indexed ones when it is due (hourly, or one was enabled or republished). Returns firings."""
    return scan_time_rules(bind, now, lock=lock, passes=_passes)


def scan_time_rules(bind: Engine | Connection, now: datetime, *, lock: bool = True, passes=None) -> int:
    """One pass over all enabled time rules (indexed or not). Returns the number of firings.

    One scanner at a time holds the scan lease, renewed at every commit; a worker frozen or
    killed mid-scan loses it after `scan_lease_seconds` and another takes over. `lock=False`
    skips the lease (tests use it to let two scanners collide)."""
    run = passes or _scan
    if not lock:
        return run(bind, now, None)
    held = lease.acquire(bind, SCAN_LEASE, timedelta(seconds=get_settings().scan_lease_seconds))
    if held is None:
        return 0  # another worker is scanning
    try:
        return run(bind, now, held)
    except lease.LeaseLost:
        log.warning("rules scan: the scan lease was taken over; this worker stops scanning")
        return 0
    finally:
        lease.release(bind, held)


@contextmanager
def _fenced(bind: Engine | Connection, held: lease.Lease | None) -> Iterator[Session]:
    """A session whose commit is fenced by the scan lease (a holder that lost it writes nothing)."""
    with new_session(bind) as session:
        if held is not None:
            held.bound(session)
        yield session
        if held is not None:
            held.fence(session)
        session.commit()


def _passes(bind: Engine | Connection, now: datetime, held: lease.Lease | None) -> int:
    fired = _scan(bind, now, held, indexed=False)
    every = timedelta(seconds=get_settings().reconcile_interval_seconds)
    with new_session(bind) as session:
        rows = [r for r in scan.assign_slots(session, indexed=True) if scan.due(r, now, every)]
        session.rollback()
    if rows and not due_build.pending(bind):  # a half-built index is not a missed path: wait for it
        fired += reconcile(bind, now, held)
    return fired


def reconcile(bind: Engine | Connection, now: datetime, held: lease.Lease | None = None) -> int:
    """The one-pass scan over the indexed rules; tells the admins about any firing it makes that
    the index did not have due (a missed path). Returns the firings."""
    fired = _scan(bind, now, held, indexed=True)
    if fired:
        alerts.missed_firings(bind, now)
    return fired


def _scan(bind: Engine | Connection, now: datetime, held: lease.Lease | None, *, indexed: bool | None = None) -> int:
    every = timedelta(seconds=get_settings().reconcile_interval_seconds) if indexed else None
    with _fenced(bind, held) as session:
        rows = scan.assign_slots(session, indexed=indexed)
        catalogue = catalogue_for(session)
        ctx = fact_context(now, session=session)
        plan = scan.build_plan(rows, catalogue, ctx, every=every,
                               **({"mask": scan.RECONCILE_MASK, "trigger": "reconcile"} if indexed else {}))
    scan.pause_rules(bind, dict(plan.broken), now)
    if not plan.rules:
        return 0
    try:
        changed = _changed(bind, plan, held)
    except scan.RUN_ERRORS:  # one rule the database cannot run: pause it, the others still run
        plan = scan.without_failing(bind, plan, now)
        if not plan.rules:
            return 0
        changed = _changed(bind, plan, held)
    fired = 0
    for start in range(0, len(changed), CHUNK):
        with _fenced(bind, held) as session:
            fired += scan.apply_chunk(session, plan, changed[start:start + CHUNK], catalogue, ctx,
                                          bulk=BULK_FIRING)
    for rule in plan.rules:
        if rule.due and rule.rule.firing.mode == "every_n_hours":
            after: int | None = 0
            while after is not None:
                with _fenced(bind, held) as session:
                    got, after = scan.refire_due(session, plan, rule, catalogue, ctx, after=after, limit=CHUNK,
                                                  bulk=BULK_FIRING)
                fired += got
    with _fenced(bind, held) as session:
        scan.mark_scanned(session, plan, now)
    return fired


def _changed(bind: Engine | Connection, plan: scan.Plan,
             held: lease.Lease | None) -> list[tuple[int, list[int], list[int]]]:
    with _fenced(bind, held) as session:
        for rule in plan.rules:
            if not rule.ready:
                scan.end_stale_episodes(session, rule)
        return scan.changed_orders(session, plan)


def signal_overdue_todos(bind: Engine | Connection, now: datetime) -> int:
    """Worker job: the `todo_overdue` event for every order with an open to-do past its due time.

    Runs only when an enabled event rule listens to it. Repeats are harmless: the firing policy
    (once per episode / order, every N hours) decides, as for any event.
    """
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
                                             InboxItem.order_id.is_not(None)).distinct().order_by(InboxItem.order_id)
        ).scalars())
    for start in range(0, len(order_ids), BATCH):
        with new_session(bind) as session:
            for order in session.exec(select(Order).where(Order.id.in_(order_ids[start:start + BATCH]))).scalars():
                evaluate_event_rules(session, order, changes={}, actor=None, now=now, is_new=False,
                                     events=[("todo_overdue", None)])
            session.commit()
    return len(order_ids)

