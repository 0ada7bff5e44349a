"""Bulk firing: the firings of one scan chunk planned in Python and written set-based.

The per-firing path (backend/rules/firing.py:fire) costs 4.5-6 ms a firing: facts, the people and
template extras read one order at a time, a SAVEPOINT, ORM inserts and a dedupe query per to-do.
Here a chunk's firings are planned first (facts once per order; people, customers, owners and
tracking links in a few queries; `plan_actions` per firing, pure), then written in multi-row
statements, one transaction per chunk (the caller's):

Each kind of row is one statement on PostgreSQL (`INSERT ... SELECT ... FROM json_to_recordset(<the
rows as one JSON parameter>)`) and one executemany on SQLite:

1. `rule_firing` rows, `INSERT ... ON CONFLICT (rule_key, order_id, episode) DO NOTHING RETURNING`:
   the rows that come back are the firings this transaction owns. A second worker's identical
   firing blocks on the unique key until the first commits, then inserts nothing; a worker killed
   mid-chunk rolls the whole chunk back and the next scan fires it. Rows go in sorted by key, so
   two workers take the key locks in the same order.
2. Only for the returned firings: their `rule_order_state` (one upsert on (rule_key, order_id)),
   to-dos, notifications and outbox rows (each `ON CONFLICT DO NOTHING` on its own dedupe key,
   as `backend/effects.py` checks before each insert).

Firings on an order that also has a firing whose rule changes the order (set a field, tag, risk
flag) or starts a flow go the per-firing path, in the order the scan found them: those effects
re-enter the order pipeline and a later firing on the same order must see their result. A rule
whose planning raises is paused (as the event path pauses one it cannot evaluate); its firings in
this chunk are skipped and the others go on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from backend import effects as effects_service
from backend import i18n, pipeline
from backend.customers.models import Customer
from backend.effects import ORDER_CHANGING, apply_effects
from backend.inbox.models import InboxItem
from backend.localized import read_text, split_title
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, load_predictions
from backend.people.models import User
from backend.rules import pause
from backend.rules.context import STAGE_LABELS, hold_people, order_values, people_for_many
from backend.rules.firing import fire
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderState
from backend.settings import get_settings
from engine import effects as fx
from engine.facts import Catalogue, FactContext, build_facts
from engine.rules.actions import ActionPlan, describe_effect, plan_actions
from engine.rules.definition import (
    AddRiskFlagAction,
    AddTagAction,
    CallWebhookAction,
    CreateTodoAction,
    EscalateAction,
    MessageCustomerAction,
    NotifyAction,
    RuleDefinition,
    SetFieldAction,
)
from engine.rules.firing import FiringDecision
from engine.rules.template_context import TemplateExtras

log = logging.getLogger("gendan.rules")
FIRING, STATE = RuleFiring.__table__, RuleOrderState.__table__
INBOX, NOTE, OUTBOX = InboxItem.__table__, Notification.__table__, OutboxMessage.__table__
# actions whose effects are rows only (to-dos, notifications, outbox): written set-based
ROW_ACTIONS = (CreateTodoAction, EscalateAction, NotifyAction, MessageCustomerAction, CallWebhookAction)
ROW_EFFECTS = (fx.CreateTodo, fx.Notify, fx.MessageCustomer, fx.CallWebhook)
# actions that change the order: written per order in memory, one pipeline change per order
ORDER_ACTIONS = (SetFieldAction, AddTagAction, AddRiskFlagAction)
# fields whose change alters whom a later firing names or what its templates read beyond the facts
# (people, stage labels): a later firing on the same order waits for the one-at-a-time path
RESHAPING_FIELDS = frozenset({"owner_id", "stage", "status"})
DIALECTS = ("postgresql", "sqlite")  # the others (none in use) fire one at a time


@dataclass(frozen=True)
class Pending:
    """A firing the policy decided; not yet recorded."""

    row: RuleDefinitionRow
    rule: RuleDefinition
    order: Order
    state: RuleOrderState | None
    decision: FiringDecision
    trigger: str | None = None  # the event that fired it (the event path); None: fire_many's trigger

    @property
    def key(self) -> tuple[str, int, int]:
        return self.rule.key, self.order.id, self.decision.episode


def writes_rows_only(rule: RuleDefinition) -> bool:
    return all(isinstance(a, ROW_ACTIONS) for a in rule.actions)


def changes_order(rule: RuleDefinition) -> bool:
    return any(isinstance(a, ORDER_ACTIONS) for a in rule.actions)


def set_based(session: Session, rule: RuleDefinition) -> bool:
    """Whether this rule's firings can take the set path (rows, and order changes batched per order)."""
    return session.get_bind().dialect.name in DIALECTS and all(isinstance(a, ROW_ACTIONS + ORDER_ACTIONS)
                                                                for a in rule.actions)


def _reshapes(rule: RuleDefinition) -> bool:
    return any(isinstance(a, SetFieldAction) and a.field in RESHAPING_FIELDS for a in rule.actions)


def sequential_orders(session: Session, pending: list[Pending]) -> set[int]:
    """The orders whose firings go one at a time (`firing.fire`, which needs each existing state
    row): a rule the set path cannot write, or a firing that changes owner or stage with a later
    one on the same order."""
    sequential = {p.order.id for p in pending if not set_based(session, p.rule)}
    seen: set[int] = set()
    for p in reversed(pending):
        if p.order.id in seen and _reshapes(p.rule):
            sequential.add(p.order.id)
        seen.add(p.order.id)
    return sequential


def fire_many(session: Session, pending: list[Pending], *, trigger: str, catalogue: Catalogue,
              ctx: FactContext) -> int:
    """Record and apply `pending` (flush only). Returns the firings this transaction recorded."""
    sequential = sequential_orders(session, pending)
    fired = 0
    together = [p for p in pending if p.order.id not in sequential]
    if together:
        fired += _fire_set(session, together, trigger=trigger, catalogue=catalogue, ctx=ctx)
    for p in pending:
        if p.order.id in sequential and p.row.enabled:
            fired += fire(session, row=p.row, rule=p.rule, order=p.order, state_row=p.state, decision=p.decision,
                          trigger=p.trigger or trigger, catalogue=catalogue, ctx=ctx) is not None
    return fired


# --- planning --------------------------------------------------------------------------------


def _plan(session: Session, pending: list[Pending], catalogue: Catalogue,
          ctx: FactContext) -> list[tuple[Pending, ActionPlan]]:
    """Every firing's effects; a rule whose planning raises is paused and left out."""
    orders = {p.order.id: p.order for p in pending}
    load_predictions(session, orders.values())  # one query for the batch (deferred on Order)
    facts = {order_id: build_facts(order_values(order), catalogue, ctx) for order_id, order in orders.items()}
    extras = template_extras_many(session, list(orders.values()))
    held = hold_people(session, (o.owner_id for o in orders.values()))  # for every rule's people below
    by_rule: dict[str, list[Pending]] = {}
    for p in pending:
        by_rule.setdefault(p.rule.key, []).append(p)
    planned: dict[tuple[str, int, int], ActionPlan] = {}
    people: dict[tuple[str, int, int], Any] = {}
    failed: set[str] = set()
    for items in by_rule.values():
        rule, row = items[0].rule, items[0].row
        try:
            named = people_for_many(session, list({p.order.id: p.order for p in items}.values()), rule)
            for p in items:
                people[p.key] = named[p.order.id]
                planned[p.key] = plan_actions(rule, order_id=p.order.id, facts=facts[p.order.id],
                                              episode=p.decision.episode, people=named[p.order.id], now=ctx.now,
                                              extras=extras[p.order.id])
        except SQLAlchemyError:
            raise  # the transaction is broken: the chunk rolls back, the next scan retries it
        except Exception as exc:  # one rule's planning must not stop the others
            _paused(session, row, exc, ctx, failed)
    _replan_after_writes(session, pending, planned, people, extras, catalogue, ctx, failed)
    del held
    return [(p, planned[p.key]) for p in pending if p.key in planned and p.rule.key not in failed]


def _paused(session: Session, row: RuleDefinitionRow, exc: Exception, ctx: FactContext, failed: set[str]) -> None:
    log.warning("rule %s could not be planned, paused: %s", row.key, exc)
    pause.pause_rule(session, row, pause.error_text(exc), ctx.now)
    failed.add(row.key)


def _replan_after_writes(session: Session, pending: list[Pending], planned: dict, people: dict,
                         extras: dict[int, TemplateExtras], catalogue: Catalogue, ctx: FactContext,
                         failed: set[str]) -> None:
    """A firing after one that changed its order (in the chunk's order) is planned again on the
    order as the earlier writes leave it, as the one-at-a-time path plans it after their commit
    to the row. (Owner and stage changes never get here: fire_many sends those orders one at a time.)"""
    by_order: dict[int, list[Pending]] = {}
    for p in pending:
        if p.key in planned and p.rule.key not in failed:
            by_order.setdefault(p.order.id, []).append(p)
    for order_id, items in by_order.items():
        if len(items) < 2 or not any(isinstance(e, ORDER_CHANGING) for p in items[:-1] for e in planned[p.key].effects):
            continue
        shadow = SimpleNamespace(**order_values(items[0].order))  # the order as the earlier firings leave it
        written = False
        for p in items:
            if written:
                try:
                    planned[p.key] = plan_actions(p.rule, order_id=order_id, facts=build_facts(dict(vars(shadow)),
                                                                                                catalogue, ctx),
                                                  episode=p.decision.episode, people=people[p.key], now=ctx.now,
                                                  extras=extras[order_id])
                except Exception as exc:  # as above: this rule is paused, the others go on
                    _paused(session, p.row, exc, ctx, failed)
                    continue
            for effect in planned[p.key].effects:
                if isinstance(effect, ORDER_CHANGING):
                    written = effects_service.write_effect(shadow, effect, now=ctx.now) is not None or written


def template_extras_many(session: Session, orders: list[Order]) -> dict[int, TemplateExtras]:
    """`backend.rules.context.template_extras` of several orders, in three queries."""
    from backend.tracking.models import TrackingLink  # tracking builds on rules: imported late

    customer_ids = sorted({o.customer_id for o in orders if o.customer_id})
    owner_ids = sorted({o.owner_id for o in orders if o.owner_id})
    customers = {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids))).scalars()} \
        if customer_ids else {}
    owners = {u.id: u for u in session.exec(select(User).where(User.id.in_(owner_ids))).scalars()} if owner_ids else {}
    links: dict[int, Any] = {}
    order_ids = [o.id for o in orders]
    if order_ids:
        for link in session.exec(select(TrackingLink).where(TrackingLink.order_id.in_(order_ids),
                                                            TrackingLink.revoked_at.is_(None))
                                 .order_by(TrackingLink.id.desc())).scalars():
            links.setdefault(link.order_id, link)
    settings = get_settings()
    from backend.foresight import words as foresight_words  # reads scores only: imported late

    reasons = foresight_words.reasons_by_order(session, order_ids)
    labels: dict[str, dict[str, str]] = {}
    out = {}
    for order in orders:
        customer, owner = customers.get(order.customer_id), owners.get(order.owner_id)
        if order.stage not in labels:
            label = STAGE_LABELS.get(order.stage)
            labels[order.stage] = {"zh": i18n.translations("zh_CN").ugettext(label), "en": label} if label else {}
        link = links.get(order.id)
        out[order.id] = TemplateExtras(
            customer={"name": customer.name, "code": customer.code, "contact_name": customer.contact_name,
                      "tier": customer.tier} if customer else {},
            owner={"name": owner.display_name, "username": owner.username, "email": owner.email} if owner else {},
            stage_labels=labels[order.stage],
            tracking_link=f"{settings.public_base_url}/t/{link.token}" if link is not None else "",
            zone=settings.timezone,
            delay_reasons=reasons.get(order.id, {}),
        )
    return out


# --- writing ---------------------------------------------------------------------------------


def _fire_set(session: Session, pending: list[Pending], *, trigger: str, catalogue: Catalogue,
              ctx: FactContext) -> int:
    session.flush()  # the chunk's ORM changes go first: the statements below bypass the unit of work
    planned = sorted(_plan(session, pending, catalogue, ctx), key=lambda item: item[0].key)
    now = ctx.now
    firings = [{"rule_key": p.rule.key, "rule_version": p.row.version, "order_id": p.order.id,
                "episode": p.decision.episode, "trigger": (p.trigger or trigger)[:20], "fired_at": now,
                "effects": [describe_effect(e) for e in plan.effects],
                "problems": [{"code": c, "params": params} for c, params in plan.problems]} for p, plan in planned]
    recorded = {tuple(r) for r in insert_rows(session, FIRING, firings, unique=("rule_key", "order_id", "episode"),
                                          returning=("rule_key", "order_id", "episode"))}
    mine = [(p, plan) for p, plan in planned if p.key in recorded]
    if not mine:
        return 0
    _store_states(session, [p for p, _ in mine])
    rest = _store_effects(session, mine, now)
    position = {id(p): i for i, p in enumerate(pending)}
    changing: dict[int, tuple[Order, list[Any]]] = {}
    for p, effects in sorted(rest, key=lambda item: position[id(item[0])]):  # in the chunk's order
        others = [e for e in effects if not isinstance(e, ORDER_CHANGING)]
        if others:  # nothing a set-based rule plans today; kept correct for any effect
            apply_effects(session, others, order=p.order, actor=None, now=now, source="rule")
        changing.setdefault(p.order.id, (p.order, []))[1].extend(e for e in effects if isinstance(e, ORDER_CHANGING))
    batch = [(order, effects) for order, effects in changing.values() if effects]
    if batch:  # after the rows, as apply_effects orders them; one pipeline change per order
        effects_service.change_orders(session, batch, actor=None, now=now, source="rule")
    return len(mine)


def insert_rows(session: Session, table, rows: list[dict[str, Any]], *, unique: tuple[str, ...],
            update: tuple[str, ...] = (), returning: tuple[str, ...] = ()) -> list[Any]:
    """`rows` into `table`, skipping (or with `update`, updating) a row whose `unique` key exists
    (no `unique`: a plain insert).

    PostgreSQL: one statement whose one parameter is the rows as a JSON array (`INSERT ... SELECT
    FROM json_to_recordset(...)`): a multi-row VALUES text is parsed by the driver on every call
    (slower than the insert itself), arrays are escaped element by element, and psycopg's
    executemany sends a statement a row. SQLite: the driver's executemany."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        statement = sqlite.insert(table)
        if not unique:
            session.execute(statement, rows)
            return []
        statement = statement.on_conflict_do_update(index_elements=list(unique),
                                                    set_={c: statement.excluded[c] for c in update}) \
            if update else statement.on_conflict_do_nothing(index_elements=list(unique))
        if returning:
            return session.execute(statement.returning(*[table.c[c] for c in returning]), rows).all()
        session.execute(statement, rows)
        return []
    dialect = session.get_bind().dialect
    names = ", ".join(f'"{c}"' for c in rows[0])
    record = ", ".join(f'"{c}" {table.c[c].type.compile(dialect=dialect)}' for c in rows[0])
    action = "DO UPDATE SET " + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update) if update else "DO NOTHING"
    sql = (f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) '
           f'AS x({record})') + (f' ON CONFLICT ({", ".join(unique)}) {action}' if unique else "")
    if returning:
        sql += " RETURNING " + ", ".join(f'"{c}"' for c in returning)
    params = {"rows": json.dumps(rows, default=_json_default)}
    result = session.execute(text(sql), params)
    return result.all() if returning else []


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):  # a timestamp column; JSON columns hold JSON already, as the ORM requires
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _store_states(session: Session, pending: list[Pending]) -> None:
    rows = [{"rule_key": p.rule.key, "order_id": p.order.id, "episode": p.decision.state.episode,
             "active": p.decision.state.active, "last_fired_at": p.decision.state.last_fired_at,
             "fired_count": p.decision.state.fired_count} for p in pending]
    insert_rows(session, STATE, rows, unique=("rule_key", "order_id"),
            update=("episode", "active", "last_fired_at", "fired_count"))
    for p in pending:
        if p.state is not None:
            session.expire(p.state)  # written past the ORM: read again if anyone looks


def _store_effects(session: Session, fired: list[tuple[Pending, ActionPlan]],
                   now) -> list[tuple[Pending, list[Any]]]:
    """The row effects as multi-row inserts (backend/effects.py's rows, column for column);
    returns the other effects per firing."""
    locales = _locales(session, fired)
    customers = _customers(session, [p.order for p, _ in fired])
    todos, notes, outbox, rest = [], [], [], []
    touched: set[int] = set()
    item_orders: set[int] = set()
    for p, plan in fired:
        order = p.order
        others = [e for e in plan.effects if not isinstance(e, ROW_EFFECTS)]
        if others:
            rest.append((p, others))
        for effect in plan.effects:
            if isinstance(effect, fx.CreateTodo):
                title, title_i18n = split_title(effect.title)
                for user_id in dict.fromkeys(effect.assignee_ids):
                    todos.append(_todo(effect.dedupe_key, order.id, user_id, effect.kind, title, title_i18n,
                                       read_text(effect.body, locales.get(user_id))[:4000], effect.priority, now,
                                       due_at=effect.due_at, flow_instance_id=effect.flow_instance_id,
                                       node_key=effect.node_key, payload=dict(effect.payload)))
                for user_id in dict.fromkeys(effect.cc_user_ids):
                    todos.append(_todo(effect.dedupe_key + ":cc", order.id, user_id, "cc", title, title_i18n,
                                       read_text(effect.body, locales.get(user_id))[:4000], effect.priority, now))
                users = (*effect.assignee_ids, *effect.cc_user_ids)
                touched.update(users)
                if users:
                    item_orders.add(order.id)
            elif isinstance(effect, fx.Notify):
                title, title_i18n = split_title(effect.title)
                for user_id in dict.fromkeys(effect.user_ids):
                    notes.append({"dedupe_key": effect.dedupe_key, "user_id": user_id, "order_id": order.id,
                                  "title": title, "title_i18n": title_i18n,
                                  "body": read_text(effect.body, locales.get(user_id))[:4000], "created_at": now,
                                  "read_at": None, "channels": [c for c in effect.channels if c != "in_app"]})
                    touched.add(user_id)
            elif isinstance(effect, fx.MessageCustomer):
                row = _customer_message(effect, order, customers.get(order.customer_id), now)
                if row is not None:
                    outbox.append(row)
            elif isinstance(effect, fx.CallWebhook):
                outbox.append(_outbox(effect.dedupe_key, "webhook", effect.url, "", "",
                                      {"data": effect.payload, "secret_ref": effect.secret_ref}, order.id, now))
    for table, rows, unique in ((INBOX, todos, ("dedupe_key", "assignee_id")),
                                (NOTE, notes, ("dedupe_key", "user_id")), (OUTBOX, outbox, ("dedupe_key",))):
        insert_rows(session, table, rows, unique=unique)
    appliers = pipeline.of(session).appliers
    if appliers.on_touched is not None:
        # the users given to-dos or notifications, and the owners of the orders given to-dos (whose
        # "started by me" tab changes; the ORM path tells them from its flush)
        owners = {p.order.owner_id for p, _ in fired if p.order.id in item_orders and p.order.owner_id}
        appliers.on_touched(session, touched | owners)
    return rest


def _todo(dedupe_key: str, order_id: int, user_id: int, kind: str, title: str, title_i18n, body: str,
          priority: str, now, *, due_at=None, flow_instance_id=None, node_key=None,
          payload: dict | None = None) -> dict[str, Any]:
    return {"dedupe_key": dedupe_key, "order_id": order_id, "assignee_id": user_id, "kind": kind, "title": title,
            "title_i18n": title_i18n, "body": body, "priority": priority, "state": "open", "outcome": None,
            "due_at": due_at, "flow_instance_id": flow_instance_id, "node_key": node_key, "source": "rule",
            "payload": payload or {}, "created_at": now, "closed_at": None, "closed_by_id": None}


def _outbox(dedupe_key: str, channel: str, recipient: str, subject: str, body: str, payload: dict,
            order_id: int, now) -> dict[str, Any]:
    return {"dedupe_key": dedupe_key, "channel": channel, "recipient": recipient, "subject": subject[:300],
            "body": body, "payload": payload, "order_id": order_id, "state": "pending", "attempts": 0,
            "next_attempt_at": now, "locked_until": None, "last_error": None, "created_at": now, "sent_at": None}


def _customer_message(effect: fx.MessageCustomer, order: Order, customer: Customer | None, now):
    """backend/effects.py:_message_customer, from a customer read with the chunk's."""
    if customer is None or customer.is_unsubscribed:
        return None
    channel = effect.channel or customer.preferred_channel
    recipient = {"email": customer.email, "sms": customer.phone, "dingtalk": customer.dingtalk_id,
                 "wecom": customer.wecom_id}.get(channel)
    if not recipient or channel == "none":
        return None
    locale = customer.preferred_locale or "zh_CN"
    return _outbox(effect.dedupe_key, channel, recipient, read_text(effect.subject, locale),
                   read_text(effect.body, locale), {"customer_id": customer.id}, order.id, now)


def _customers(session: Session, orders: Iterable[Order]) -> dict[int, Customer]:
    ids = sorted({o.customer_id for o in orders if o.customer_id})
    if not ids:
        return {}
    return {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(ids))).scalars()}


def _locales(session: Session, fired: list[tuple[Pending, ActionPlan]]) -> dict[int, str]:
    """Each reader's language, as backend/effects.py:_locales reads it, for the whole chunk at once."""
    ids = {u for _, plan in fired for e in plan.effects
           for u in (*getattr(e, "assignee_ids", ()), *getattr(e, "cc_user_ids", ()), *getattr(e, "user_ids", ()))}
    if not ids:
        return {}
    default = get_settings().default_locale
    rows = session.exec(select(User.id, User.locale).where(User.id.in_(sorted(ids)))).all()
    return {user_id: locale or default for user_id, locale in rows}


__all__ = ["Pending", "fire_many", "insert_rows", "sequential_orders", "set_based", "template_extras_many",
           "writes_rows_only"]
