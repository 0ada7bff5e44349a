"""Firing a rule on an order: record it once, remember the per-order state, apply its effects;
and the event path, which evaluates the enabled event rules when an order changes.

A firing (used by the scan in tasks.py and by the event path) records a `rule_firing` row under
its unique key (rule, order, episode) in a SAVEPOINT, then applies the effects (to-dos,
notifications, outbox rows) in the same transaction: a second worker's identical firing fails on
the unique key and applies nothing. The firing policy itself is the engine's `decide_firing`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.effects import apply_effects
from backend.orders.models import Order
from backend.rules.context import order_values, people_for, template_extras
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderState
from engine.facts import Catalogue, FactContext, build_facts
from engine.rules.actions import describe_effect, plan_actions
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.events import Event
from engine.rules.firing import FiringDecision, FiringState


def fire(session: Session, *, row: RuleDefinitionRow, rule: RuleDefinition, order: Order,
         state_row: RuleOrderState | None, decision: FiringDecision, trigger: str, catalogue: Catalogue,
         ctx: FactContext) -> RuleFiring | None:
    """Record one firing and apply its effects (flush only). None when someone else recorded it."""
    now = ctx.now
    facts = build_facts(order_values(order), catalogue, ctx)
    plan = plan_actions(rule, order_id=order.id, facts=facts, episode=decision.episode,
                        people=people_for(session, order, rule), now=now, extras=template_extras(session, order))
    try:
        with session.begin_nested():
            firing = RuleFiring(rule_key=rule.key, rule_version=row.version, order_id=order.id,
                                episode=decision.episode, trigger=trigger[:20], fired_at=now,
                                effects=[describe_effect(e) for e in plan.effects],
                                problems=[{"code": c, "params": p} for c, p in plan.problems])
            session.add(firing)
            store_state(session, rule.key, order.id, state_row, decision.state)
            session.flush()
            apply_effects(session, list(plan.effects), order=order, actor=None, now=now, source="rule")
            session.flush()
    except IntegrityError:
        return None  # the same (rule, order, episode) was recorded by another worker or an earlier run
    return firing


def store_state(session: Session, rule_key: str, order_id: int, row: RuleOrderState | None,
                state: FiringState) -> None:
    """Remember the firing state of (rule, order), in `row` when there is one (flush is the caller's)."""
    if row is None:
        row = RuleOrderState(rule_key=rule_key, order_id=order_id)
        session.add(row)
    row.episode, row.active = state.episode, state.active
    row.last_fired_at, row.fired_count = state.last_fired_at, state.fired_count


def state_of(row: RuleOrderState | None) -> FiringState | None:
    if row is None:
        return None
    return FiringState(episode=row.episode, active=row.active, last_fired_at=row.last_fired_at,
                       fired_count=row.fired_count)


# --- the event path --------------------------------------------------------------------------


_PARSED: dict[str, RuleDefinition] = {}


def _enabled_event_rules(session: Session) -> list[tuple[int, RuleDefinition]]:
    """(row id, definition) of the enabled event rules. A definition is parsed once per distinct
    stored text (the cache key is the JSON text itself, so it can never be stale): validating a
    hundred definitions on every order change cost more than evaluating them."""
    table = RuleDefinitionRow.__table__
    rows = session.execute(select(table.c.id, cast(table.c.definition, Text)).where(
        table.c.enabled.is_(True), table.c.status == "published", table.c.is_time_rule.is_(False),
    ).order_by(table.c.id)).all()
    out = []
    for row_id, stored in rows:
        rule = _PARSED.get(stored)
        if rule is None:
            if len(_PARSED) > 5000:
                _PARSED.clear()
            rule = _PARSED[stored] = load_rule(json.loads(stored))
        out.append((row_id, rule))
    return out


def has_enabled_event_rules(session: Session) -> bool:
    """Whether any enabled event rule exists (the bulk import skips the rules stage otherwise)."""
    return bool(_enabled_event_rules(session))


def evaluate_event_rules(session: Session, order: Order, *, changes: dict[str, Any], actor: Actor | None,
                         now: datetime, is_new: bool, events: list[Event] | None = None) -> None:
    """Order hook: the enabled event rules whose trigger matches this change
    (backend/rules/event_path.py: one query for rules, states and forms, firings set-based)."""
    from backend.rules import event_path  # it fires through bulk.py, which builds on this module

    event_path.evaluate_event_rules(session, order, changes=changes, actor=actor, now=now, is_new=is_new,
                                    events=events)
