"""The monitor: every enabled time rule over all open orders, in one pass (backend/rules/scan.py).

`scan_time_rules` takes the scan lock, gives new rules a slot, runs the one query that returns the
orders whose matches changed since the last scan, and acts on them in chunks of CHUNK orders, one
transaction each (firings, effects, outbox rows and the orders' new match words commit together).
A worker killed mid-scan loses only its open chunk; the next scan finds those orders changed
again, and the firing's unique key (rule, order, episode) keeps anything from firing twice.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from backend.db import new_session
from backend.inbox.models import InboxItem
from backend.orders.models import Order
from backend.rules import scan
from backend.rules.context import catalogue_for, fact_context
from backend.rules.firing import evaluate_event_rules
from backend.rules.models import RuleDefinitionRow

CHUNK = 500  # changed orders per transaction
BATCH = 500


def scan_time_rules(bind: Engine | Connection, now: datetime, *, lock: bool = True) -> int:
    """Worker job: one pass over all enabled time rules. Returns the number of firings.

    `lock=False` skips the PostgreSQL scan lock (tests use it to let two scanners collide)."""
    with scan.scan_lock(bind) if lock else nullcontext(True) as got:
        if not got:
            return 0  # another worker is scanning
        return _scan(bind, now)


def _scan(bind: Engine | Connection, now: datetime) -> int:
    with new_session(bind) as session:
        rows = scan.assign_slots(session)
        catalogue = catalogue_for(session)
        ctx = fact_context(now)
        plan = scan.build_plan(rows, catalogue, ctx)
        session.commit()
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
        with new_session(bind) as session:
            fired += scan.apply_chunk(session, plan, changed[start:start + CHUNK], catalogue, ctx)
            session.commit()
    for rule in plan.rules:
        if rule.due and rule.rule.firing.mode == "every_n_hours":
            after: int | None = 0
            while after is not None:
                with new_session(bind) as session:
                    got, after = scan.refire_due(session, plan, rule, catalogue, ctx, after=after, limit=CHUNK)
                    session.commit()
                fired += got
    with new_session(bind) as session:
        scan.mark_scanned(session, plan, now)
        session.commit()
    return fired


def _changed(bind: Engine | Connection, plan: scan.Plan) -> list[tuple[int, list[int], list[int]]]:
    with new_session(bind) as session:
        for rule in plan.rules:
            if not rule.ready:
                scan.end_stale_episodes(session, rule)
        changed = scan.changed_orders(session, plan)
        session.commit()
    return changed


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

