"""The event path: the enabled event rules evaluated when an order changes, in few round trips.

Why this exists: the hook ran on every order save and paid per rule: a query for the rules, one
for the published forms (the fact catalogue), one for the order's firing states, then per rule
that fired a SAVEPOINT, the people and template extras read one by one, ORM inserts and a flush,
and a flush per rule whose state changed. Here a change costs:

1. one query: the enabled event rules, each with this order's firing state (LEFT JOIN), and, as
   one more row, the published forms' definitions as one JSON text (`UNION ALL`); rules and the
   catalogue are parsed once per distinct stored text (the cache keys are the texts, so they are
   never stale);
2. evaluation in process (facts built once; each condition compiled once to Python closures,
   engine/rules/compiled.py);
3. the firings through the bulk path (backend/rules/bulk.py: one `INSERT ... ON CONFLICT DO
   NOTHING RETURNING` for the firings, one upsert for their states, one insert per kind of row),
   and the states of rules that did not fire (an episode ended, "already fired") in one upsert.

Nothing is flushed per rule. A firing the bulk path cannot write set-based (a rule that starts a
flow) still goes through `firing.fire` with the state row read then.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.forms.models import FormDefinitionRow
from backend.models_base import UTCDateTime
from backend.orders.models import Order
from backend.rules import bulk, pause
from backend.rules.context import catalogue_of, fact_context, order_values
from backend.rules.matching import in_scope
from backend.rules.models import RuleDefinitionRow, RuleOrderState
from engine.facts import Catalogue, build_facts
from engine.rules.compiled import compiled_condition
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.events import Event, events_of, heard_event
from engine.rules.firing import FiringState, decide_firing

RULE, STATE, FORM = RuleDefinitionRow.__table__, RuleOrderState.__table__, FormDefinitionRow.__table__
EVALUATION_ERRORS = (RecursionError, MemoryError, ArithmeticError, TypeError, ValueError, ReferenceError)
_PARSED: dict[str, RuleDefinition] = {}  # the cache keys are the stored texts: never stale
_CATALOGUES: dict[str, Catalogue] = {}
_LIMIT = 5000  # cached texts before a cache starts over


def _forms_text(dialect: str) -> Any:
    """The published forms' definitions as one JSON array text, in id order (None when none)."""
    if dialect == "postgresql":
        return select(cast(func.json_agg(aggregate_order_by(FORM.c.definition, FORM.c.id)), Text)) \
            .where(FORM.c.status == "published").scalar_subquery()
    listed = select(FORM.c.definition).where(FORM.c.status == "published").order_by(FORM.c.id).subquery()
    return select(func.json_group_array(func.json(listed.c.definition))).scalar_subquery()


_STATEMENTS: dict[str, Any] = {}  # dialect -> the one query, built once (its cache key is memoized on it)


def _rules_and_forms(dialect: str) -> Any:
    """The query `read_rules_and_states` runs, the order id a bound parameter `order_id`: built
    once per dialect, so a change pays neither its construction nor its cache key."""
    statement = _STATEMENTS.get(dialect)
    if statement is not None:
        return statement
    on_order = and_(STATE.c.rule_key == RULE.c.key, STATE.c.order_id == bindparam("order_id", type_=Integer))
    rules = select(literal("r").label("kind"), RULE.c.id.label("rule_id"), cast(RULE.c.definition, Text).label("text"),
                   STATE.c.id.label("state_id"), STATE.c.episode, STATE.c.active, STATE.c.last_fired_at,
                   STATE.c.fired_count) \
        .select_from(RULE.outerjoin(STATE, on_order)) \
        .where(RULE.c.enabled.is_(True), RULE.c.status == "published", RULE.c.is_time_rule.is_(False))
    text = _forms_text(dialect)
    listening = select(RULE.c.id).where(RULE.c.enabled.is_(True), RULE.c.status == "published",
                                        RULE.c.is_time_rule.is_(False))
    catalogue_row = select(literal("f"), null().cast(Integer), text, null().cast(Integer), null().cast(Integer),
                           null().cast(Boolean), null().cast(UTCDateTime), null().cast(Integer)) \
        .where(exists(listening))  # no forms read on an installation without event rules
    statement = _STATEMENTS[dialect] = union_all(rules, catalogue_row).order_by("kind", "rule_id")
    return statement


def read_rules_and_states(session: Session, order_id: int | None,
                          ) -> tuple[list[tuple[int, RuleDefinition, int | None, FiringState | None]], Catalogue]:
    """One query: ((rule row id, definition, state row id, state) per enabled event rule, the
    fact catalogue)."""
    statement = _rules_and_forms(session.get_bind().dialect.name)
    out: list[tuple[int, RuleDefinition, int | None, FiringState | None]] = []
    catalogue_text = "[]"
    for kind, row_id, stored, state_id, episode, active, last_fired_at, fired_count in session.execute(
            statement, {"order_id": order_id if order_id is not None else -1}):
        if kind == "f":
            catalogue_text = stored or "[]"
            continue
        rule = _PARSED.get(stored)
        if rule is None:
            if len(_PARSED) > _LIMIT:
                _PARSED.clear()
            rule = _PARSED[stored] = load_rule(json.loads(stored))
        state = None if state_id is None else FiringState(episode=episode, active=active,
                                                          last_fired_at=last_fired_at, fired_count=fired_count)
        out.append((row_id, rule, state_id, state))
    return out, _catalogue(catalogue_text)


def _catalogue(text: str) -> Catalogue:
    catalogue = _CATALOGUES.get(text)
    if catalogue is None:
        if len(_CATALOGUES) > _LIMIT:
            _CATALOGUES.clear()
        catalogue = _CATALOGUES[text] = catalogue_of(json.loads(text))
    return catalogue


def evaluate_event_rules(session: Session, order: Order, *, changes: dict[str, Any], actor: Actor | None,
                         now: datetime, is_new: bool, events: list[Event] | None = None) -> None:
    """Order hook: enabled event rules whose trigger matches this change, evaluated in process
    (see the module docstring for the round trips). `events` overrides the events derived from
    the change (the overdue-to-do job passes its own)."""
    rows, catalogue = read_rules_and_states(session, order.id)
    if not rows:
        return
    if events is None:
        events = events_of({"stage": order.stage, "data": order.data}, changes, is_new=is_new)
    heard = []
    for row_id, rule, state_id, state in rows:
        event = heard_event(rule.trigger, events)
        if event is not None and in_scope(session, rule, order):
            heard.append((row_id, rule, state_id, state, event))
    if not heard:
        return
    ctx = fact_context(now, session=session)
    facts = build_facts(order_values(order), catalogue, ctx)
    firing, stored = [], []
    for row_id, rule, state_id, state, event in heard:
        try:
            holds = compiled_condition(rule.condition).holds(facts, ctx)
        except EVALUATION_ERRORS as exc:
            # stored before the limits (engine/rules/limits.py): paused, the order and other rules go on
            pause.pause_rule(session, session.get(RuleDefinitionRow, row_id), pause.error_text(exc), now)
            continue
        if not holds and state is None:
            continue  # never fired, still false: nothing to decide or remember
        if holds and state is not None and state.episode == 0 and state.active and rule.firing.mode != "every_time":
            continue  # matched when enabled "from now on" (definitions.baseline_event_rule): not a new episode
        decision = decide_firing(rule.firing, state, holds, now, ctx.calendar)
        if decision.fire:
            firing.append((row_id, rule, state_id, decision, event))
        elif decision.state != state and (state is not None or decision.state.active):
            stored.append({"rule_key": rule.key, "order_id": order.id, "episode": decision.state.episode,
                           "active": decision.state.active, "last_fired_at": decision.state.last_fired_at,
                           "fired_count": decision.state.fired_count})
    if stored:
        bulk.insert_rows(session, STATE, stored, unique=("rule_key", "order_id"),
                         update=("episode", "active", "last_fired_at", "fired_count"))
    if firing:
        _fire(session, order, firing, catalogue, ctx)


def _fire(session: Session, order: Order, firing: list, catalogue: Catalogue, ctx) -> None:
    """The change's firings through the bulk path, the rule rows read in one query."""
    ids = sorted({row_id for row_id, *_ in firing})
    rows = {r.id: r for r in session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.id.in_(ids))).scalars()}
    pending = [bulk.Pending(rows[row_id], rule, order, None, decision, trigger=event)
               for row_id, rule, _, decision, event in firing]
    if bulk.sequential_orders(session, pending):  # `firing.fire` needs the state rows; the set path upserts
        pending = [replace(p, state=session.get(RuleOrderState, state_id) if state_id is not None else None)
                   for p, (_, _, state_id, _, _) in zip(pending, firing, strict=True)]
    bulk.fire_many(session, pending, trigger="event", catalogue=catalogue, ctx=ctx)
