"""The monitor: scan every enabled time rule over all open orders with one SQL query per rule.

Each rule's scan is one transaction: its firings, their effects and outbox rows commit together
or not at all, so a worker killed mid-scan leaves nothing half-done and the next scan redoes it.
Two workers skip each other's rule (`FOR UPDATE SKIP LOCKED` on PostgreSQL); should they still
meet, the firing's unique key (rule, order, episode) lets only one of them record it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select, true, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.db import new_session
from backend.inbox.models import InboxItem
from backend.orders.models import Order
from backend.rules import service
from backend.rules.models import RuleDefinitionRow, RuleOrderState
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import load_rule
from engine.rules.firing import decide_firing

ORDER = service.ORDER
STATE = service.STATE
BATCH = 500


def scan_rule(session: Session, row: RuleDefinitionRow, now: datetime) -> int:
    """Fire `row`'s rule for every order that matches now and whose policy allows it (flush only)."""
    rule = load_rule(row.definition)
    catalogue = service.catalogue_for(session)
    ctx = service.fact_context(now)
    try:
        condition = compile_condition(rule.condition, catalogue, ORDER.c, ctx)
    except NotCompilable:
        return 0
    scope = service._scope_clause(rule)
    if rule.firing.mode == "once_per_episode":
        # the condition went false since the last firing: the next match starts a new episode
        still = exists(select(ORDER.c.id).where(ORDER.c.id == STATE.c.order_id, scope, condition))
        session.execute(
            update(STATE).where(STATE.c.rule_key == rule.key, STATE.c.active == true(), ~still).values(active=False)
        )
    joined = ORDER.outerjoin(STATE, and_(STATE.c.order_id == ORDER.c.id, STATE.c.rule_key == rule.key))
    ids = list(session.exec(
        select(ORDER.c.id).select_from(joined)
        .where(scope, condition, service.candidates_clause(rule, now)).order_by(ORDER.c.id)
    ).scalars())
    fired = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        orders = {o.id: o for o in session.exec(select(Order).where(Order.id.in_(chunk))).scalars()}
        states = {s.order_id: s for s in session.exec(
            select(RuleOrderState).where(RuleOrderState.rule_key == rule.key, RuleOrderState.order_id.in_(chunk))
        ).scalars()}
        for order_id in chunk:
            state_row = states.get(order_id)
            decision = decide_firing(rule.firing, service._state_of(state_row), True, now, ctx.calendar)
            if not decision.fire:
                continue
            firing = service.fire(session, row=row, rule=rule, order=orders[order_id], state_row=state_row,
                                  decision=decision, trigger="scan", catalogue=catalogue, ctx=ctx)
            fired += firing is not None
    row.last_scan_at = now
    session.flush()
    return fired


def due_rule_ids(session: Session, now: datetime) -> list[int]:
    rows = session.exec(
        select(RuleDefinitionRow).where(
            RuleDefinitionRow.enabled.is_(True), RuleDefinitionRow.status == "published",
            RuleDefinitionRow.is_time_rule.is_(True), RuleDefinitionRow.is_event_only.is_(False),
        ).order_by(RuleDefinitionRow.id)
    ).scalars()
    out = []
    for row in rows:
        every = timedelta(minutes=(row.definition.get("trigger") or {}).get("every_minutes", 1))
        if row.last_scan_at is None or now - row.last_scan_at >= every - timedelta(seconds=1):
            out.append(row.id)
    return out


def scan_time_rules(bind: Engine | Connection, now: datetime) -> int:
    """Worker job: scan each due time rule in its own transaction. Returns the number of firings."""
    with new_session(bind) as session:
        ids = due_rule_ids(session, now)
    fired = 0
    for rule_id in ids:
        with new_session(bind) as session:
            row = session.exec(
                select(RuleDefinitionRow).where(RuleDefinitionRow.id == rule_id, RuleDefinitionRow.enabled.is_(True))
                .with_for_update(skip_locked=True)
            ).scalars().first()
            if row is None:
                continue  # disabled meanwhile, or another worker is scanning it
            fired += scan_rule(session, row, now)
            session.commit()
    return fired


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
                service.evaluate_event_rules(session, order, changes={}, actor=None, now=now, is_new=False,
                                             events=[("todo_overdue", None)])
            session.commit()
    return len(order_ids)


def install(every_seconds: float = 60) -> None:
    from backend.worker import runner

    runner.register("rules_scan", every_seconds)(scan_time_rules)
    runner.register("rules_overdue_todos", every_seconds)(signal_overdue_todos)
