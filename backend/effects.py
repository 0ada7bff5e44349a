"""Apply engine effects inside the caller's transaction: rows only, flush at most.

Every effect is stored at most once under its `dedupe_key` (unique indexes back this up), so a
retried scan or two workers applying the same firing cannot duplicate a to-do or a message.

Effects that change the order (`SetField`, `AddTag`, `AddRiskFlag`, `EnterStage`, `CompleteOrder`)
are applied after the others of the same batch (so a stage a flow enters already sees the to-dos
the flow created with it) and re-enter the order-change pipeline (backend/pipeline.py) one level
deeper: the form validates the new values, the event is recorded, flows, rules, customer messages
and the live push run exactly as for a PATCH. A write the form refuses, or one past the pipeline's
depth limit, is not stored: the order keeps its values and its records say why (`effect_refused`).
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text
from sqlalchemy.orm.state import InstanceState
from sqlmodel import Session

from backend import pipeline
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.localized import read_text, split_title
from backend.models_base import UTCDateTime
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.people.models import User
from engine import effects as fx

log = logging.getLogger("gendan.effects")
ORDER_TABLE = Order.__table__
ORDER_CHANGING = (fx.SetField, fx.AddTag, fx.AddRiskFlag, fx.EnterStage, fx.CompleteOrder)


def apply_effects(session: Session, effects: list, *, order: Order | None, actor: Actor | None,
                  now: datetime, source: str = "flow") -> list[Any]:
    """Turn effects into rows. Returns the rows created (new ones only)."""
    created: list[Any] = []
    touched_users: set[int] = set()
    appliers = pipeline.of(session).appliers
    changing = [e for e in effects if isinstance(e, ORDER_CHANGING)]
    for effect in [e for e in effects if not isinstance(e, ORDER_CHANGING)] + changing:
        handler = appliers.by_type.get(type(effect))
        if handler is not None:
            created.extend(handler(session, effect, order=order, actor=actor, now=now) or [])
            continue
        if isinstance(effect, fx.CreateTodo):
            title, title_i18n = split_title(effect.title)
            locales = _locales(session, effect.body, (*effect.assignee_ids, *effect.cc_user_ids))
            for user_id in dict.fromkeys(effect.assignee_ids):
                row = _once(session, InboxItem, effect.dedupe_key, user_id)
                if row is None:
                    item = InboxItem(
                        dedupe_key=effect.dedupe_key, order_id=order.id if order else None, assignee_id=user_id,
                        kind=effect.kind, title=title, title_i18n=title_i18n,
                        body=read_text(effect.body, locales.get(user_id))[:4000],
                        priority=effect.priority,
                        due_at=effect.due_at, flow_instance_id=effect.flow_instance_id, node_key=effect.node_key,
                        source=source, payload=dict(effect.payload), created_at=now,
                    )
                    session.add(item)
                    created.append(item)
                    touched_users.add(user_id)
            for user_id in dict.fromkeys(effect.cc_user_ids):
                key = effect.dedupe_key + ":cc"
                if _once(session, InboxItem, key, user_id) is None:
                    item = InboxItem(dedupe_key=key, order_id=order.id if order else None, assignee_id=user_id,
                                     kind="cc", title=title, title_i18n=title_i18n,
                                     body=read_text(effect.body, locales.get(user_id))[:4000],
                                     priority=effect.priority, source=source, created_at=now, state="open")
                    session.add(item)
                    created.append(item)
                    touched_users.add(user_id)
        elif isinstance(effect, fx.CloseTodo):
            rows = session.exec(select(InboxItem).where(InboxItem.dedupe_key == effect.todo_dedupe_key,
                                                        InboxItem.state == "open")).scalars().all()
            for item in rows:
                item.state = effect.outcome if effect.outcome in ("done", "cancelled", "superseded") else "done"
                item.closed_at = now
                # the person whose action closed it (the inbox says "handled by"); a timer or the system: nobody
                item.closed_by_id = actor.user_id if actor is not None and actor.user_id else None
                touched_users.add(item.assignee_id)
        elif isinstance(effect, fx.Notify):
            title, title_i18n = split_title(effect.title)
            locales = _locales(session, effect.body, effect.user_ids)
            for user_id in dict.fromkeys(effect.user_ids):
                if _once(session, Notification, effect.dedupe_key, user_id) is None:
                    note = Notification(dedupe_key=effect.dedupe_key, user_id=user_id,
                                        order_id=order.id if order else None, title=title, title_i18n=title_i18n,
                                        body=read_text(effect.body, locales.get(user_id))[:4000], created_at=now,
                                        channels=[c for c in effect.channels if c != "in_app"])
                    session.add(note)
                    created.append(note)
                    touched_users.add(user_id)
        elif isinstance(effect, fx.MessageCustomer):
            row = _message_customer(session, effect, order=order, now=now)
            if row is not None:
                created.append(row)
        elif isinstance(effect, fx.CallWebhook):
            row = enqueue(session, dedupe_key=effect.dedupe_key, channel="webhook", recipient=effect.url,
                          subject="", body="", payload={"data": effect.payload, "secret_ref": effect.secret_ref},
                          order_id=order.id if order else None, now=now)
            if row is not None:
                created.append(row)
        elif isinstance(effect, fx.RecordEvent):
            if order is not None:
                actor_id = effect.actor_id or (actor.user_id if actor and actor.user_id else None)
                session.add(OrderEvent(order_id=order.id, type=effect.type[:40], actor_id=actor_id,
                                       actor_label=None if actor_id else (actor.display_name if actor else source),
                                       at=now, after=dict(effect.data) or None, note=effect.note or None))
        elif isinstance(effect, ORDER_CHANGING):
            if order is not None:
                _change_order(session, order, effect, actor=actor, now=now, source=source)
        else:
            # ScheduleTimer / CancelTimer / StartFlow belong to the flows package, whose appliers the
            # assembly puts in the pipeline's EffectAppliers; an effect nobody handles is a bug
            raise TypeError(f"no applier for effect {type(effect).__name__}")
    session.flush()
    if appliers.on_touched is not None:
        appliers.on_touched(session, touched_users)
    return created


def _locales(session: Session, text: fx.Text, user_ids) -> dict[int, str | None]:
    """Each reader's language (their preference), read only when a text comes in several languages.
    A body is stored in its reader's language; titles keep every language (`title_i18n`)."""
    if isinstance(text, str) or not user_ids:
        return {}
    from backend.settings import get_settings

    default = get_settings().default_locale
    rows = session.exec(select(User.id, User.locale).where(User.id.in_(set(user_ids)))).all()
    return {user_id: locale or default for user_id, locale in rows}


def _once(session: Session, model, dedupe_key: str, user_id: int):
    """The id of the row already stored for (effect, user), if any."""
    owner = model.user_id if model is Notification else model.assignee_id
    return session.exec(select(model.id).where(model.dedupe_key == dedupe_key, owner == user_id)).first()


def enqueue(session: Session, *, dedupe_key: str, channel: str, recipient: str, subject: str, body: str,
            payload: dict | None, order_id: int | None, now: datetime) -> OutboxMessage | None:
    """Add an outbox row unless one with this key exists (then None)."""
    exists = session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first()
    if exists:
        return None
    row = OutboxMessage(dedupe_key=dedupe_key, channel=channel, recipient=recipient, subject=subject[:300],
                        body=body, payload=payload or {}, order_id=order_id, next_attempt_at=now, created_at=now)
    session.add(row)
    return row


def _message_customer(session: Session, effect: fx.MessageCustomer, *, order: Order | None, now: datetime):
    if order is None:
        return None
    customer = session.get(Customer, order.customer_id)
    if customer is None or customer.is_unsubscribed:
        return None
    channel = effect.channel or customer.preferred_channel
    recipient = {"email": customer.email, "sms": customer.phone, "dingtalk": customer.dingtalk_id,
                 "wecom": customer.wecom_id}.get(channel)
    if not recipient or channel == "none":
        return None
    # the customer's language, else the other one (read_text falls back)
    locale = customer.preferred_locale or "zh_CN"
    return enqueue(session, dedupe_key=effect.dedupe_key, channel=channel, recipient=recipient,
                   subject=read_text(effect.subject, locale), body=read_text(effect.body, locale),
                   payload={"customer_id": customer.id},
                   order_id=order.id, now=now)


CORE_SETTABLE = {"planned_delivery", "payment_due", "amount", "currency", "owner_id", "stage", "status"}


def _change_order(session: Session, order: Order, effect, *, actor: Actor | None, now: datetime,
                  source: str) -> None:
    """Write one order-changing effect and send it through the pipeline one level deeper."""
    line = pipeline.of(session)
    depth = pipeline.depth(session) + 1
    before = pipeline.snapshot(order)
    saved = {c: getattr(order, c) for c in (*pipeline.TRACKED_FIELDS, "stage_entered_at", "closed_at")}
    kind = _write(order, effect, now=now)
    if kind is None:
        return  # already so: nothing changed, nothing to tell anyone
    change = pipeline.OrderChange.of(order, before=before, actor=actor, via=f"effect:{source}", now=now, depth=depth,
                                     event_type=kind, note=getattr(effect, "reason", None) or None)
    try:
        if depth > line.max_depth:
            raise GendanError("pipeline.depth_exceeded", {"depth": line.max_depth})
        change = line.check(session, change)
    except GendanError as exc:
        _refuse(session, order, saved, effect, exc, actor=actor, now=now)
        return
    order.version += 1
    order.updated_at = now
    session.flush()
    line.publish(session, change)


def change_orders(session: Session, batch: list[tuple[Order, list]], *, actor: Actor | None, now: datetime,
                  source: str) -> None:
    """Order-changing effects of many orders at once (bulk firing, backend/rules/bulk.py): each
    order's effects written in turn and sent through the pipeline as one change one level deeper
    (one version bump, one recorded event), the orders' changes published together
    (`Pipeline.publish_many`, each stage in its batched form where it has one).

    An order whose combined change a check refuses (or past the depth limit) falls back to one
    effect at a time (`_change_order`), so each refused write is recorded as it would be alone."""
    line = pipeline.of(session)
    depth = pipeline.depth(session) + 1
    changes = []
    for order, effects in batch:
        before = pipeline.snapshot(order)
        saved = {c: getattr(order, c) for c in (*pipeline.TRACKED_FIELDS, "stage_entered_at", "closed_at")}
        kinds = [kind for kind in (_write(order, e, now=now) for e in effects) if kind is not None]
        if not kinds:
            continue  # already so: nothing changed, nothing to tell anyone
        reasons = [r for r in dict.fromkeys(getattr(e, "reason", None) for e in effects) if r]
        change = pipeline.OrderChange.of(order, before=before, actor=actor, via=f"effect:{source}", now=now,
                                         depth=depth, event_type=kinds[0] if len(set(kinds)) == 1 else None,
                                         note="; ".join(reasons) or None)
        try:
            if depth > line.max_depth:
                raise GendanError("pipeline.depth_exceeded", {"depth": line.max_depth})
            change = line.check(session, change)
        except GendanError:
            for column, value in saved.items():
                setattr(order, column, value)
            for effect in effects:
                _change_order(session, order, effect, actor=actor, now=now, source=source)
            continue
        order.version += 1
        order.updated_at = now
        changes.append(change)
    update_orders(session, [c.order for c in changes])
    session.flush()
    line.publish_many(session, changes)


_SET_BASED_TYPES = (str, int, float, bool, list, dict, datetime, date, Decimal, type(None))


def update_orders(session: Session, orders: list[Order]) -> None:
    """PostgreSQL: the changed columns of these (persistent, loaded) orders written in one `UPDATE
    sales_order ... FROM json_to_recordset(...)` per set of changed columns, instead of the unit of
    work's statement per row (a chunk of firings flags 500 orders). Each row gets the values the
    flush would write (its `version` bumped in memory as before: the optimistic check of a later
    PATCH compares with it); the mapper's update events run for each as a flush runs them (the
    live order pages), and the attributes are then committed, so the flush after this writes
    nothing more for them. Other databases, a new order, or a value the JSON parameter cannot carry
    as the driver would are left to the flush."""
    if len(orders) < 2 or session.get_bind().dialect.name != "postgresql":
        return
    mapper = Order.__mapper__
    columns = ORDER_TABLE.c
    groups: dict[tuple[str, ...], list[Order]] = {}
    for order in orders:
        state = sa_inspect(order)
        if not state.persistent:  # a new order is inserted by the flush
            continue
        keys = tuple(sorted(state.committed_state))
        if not keys or not all(k in columns and k != "id" for k in keys) or not all(
                isinstance(getattr(order, k), _SET_BASED_TYPES) for k in keys):
            continue
        groups.setdefault(keys, []).append(order)
    if not groups:
        return
    connection = session.connection()
    dialect = connection.dialect
    for keys, group in groups.items():
        for order in group:
            mapper.dispatch.before_update(mapper, connection, sa_inspect(order))
        rows = []
        for order in group:
            row: dict[str, Any] = {"id": order.id}
            for key in keys:
                value = columns[key].type.process_bind_param(getattr(order, key), dialect) \
                    if isinstance(columns[key].type, UTCDateTime) else getattr(order, key)
                row[key] = value
            rows.append(row)
        record = ", ".join(f'"{k}" {columns[k].type.compile(dialect=dialect)}' for k in ("id", *keys))
        assignments = ", ".join(f'"{k}" = x."{k}"' for k in keys)
        connection.execute(text(
            f'UPDATE sales_order SET {assignments} FROM json_to_recordset(CAST(:rows AS json)) AS x({record}) '
            "WHERE sales_order.id = x.id"), {"rows": json.dumps(rows, default=_json_value)})
        states = [sa_inspect(order) for order in group]
        # what the flush does after its UPDATE (`_register_persistent`): the values committed, the
        # order no longer dirty (else the flush runs its update events again for "no net change")
        InstanceState._commit_all_states([(state, state.dict) for state in states], session.identity_map)
        for state in states:
            mapper.dispatch.after_update(mapper, connection, state)


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_effect(target: Any, effect, *, now: datetime) -> str | None:
    """The in-memory write of an order-changing effect on an order, or on a stand-in with its
    columns (bulk firing plans a later firing on the order as the earlier ones leave it). The event
    type to record, or None when it was already so."""
    return _write(target, effect, now=now)


def _write(order: Order, effect, *, now: datetime) -> str | None:
    """Change the row in memory; the event type to record, or None when it was already so."""
    if isinstance(effect, fx.SetField):
        if effect.field.startswith("data."):
            key = effect.field[5:]
            if key in order.data and order.data[key] == effect.value:
                return None
            order.data = {**order.data, key: effect.value}
        elif effect.field in CORE_SETTABLE:
            value = effect.value
            if effect.field in ("planned_delivery", "payment_due") and isinstance(value, str):
                value = date.fromisoformat(value)
            if getattr(order, effect.field) == value:
                return None
            setattr(order, effect.field, value)
            if effect.field == "stage":
                order.stage_entered_at = now
        else:
            raise ValueError(f"field {effect.field} cannot be set by a rule or flow")
        return "field_set"
    if isinstance(effect, fx.AddTag):
        if effect.tag in order.tags:
            return None
        order.tags = [*order.tags, effect.tag]
        return "tag_added"
    if isinstance(effect, fx.AddRiskFlag):
        if effect.flag in order.risk_flags:
            return None
        order.risk_flags = [*order.risk_flags, effect.flag]
        return "risk_flagged"
    if isinstance(effect, fx.EnterStage):
        if order.stage == effect.stage:
            return None
        order.stage, order.stage_entered_at = effect.stage, now
        return "stage_entered"
    if order.status == effect.status:  # CompleteOrder
        return None
    order.status, order.closed_at = effect.status, now
    return "completed" if effect.status == "completed" else "cancelled"


def _refuse(session: Session, order: Order, saved: dict[str, Any], effect, exc: GendanError, *,
            actor: Actor | None, now: datetime) -> None:
    """A write the form (or the depth guard) refuses: the order keeps its values, the records say why."""
    for column, value in saved.items():
        setattr(order, column, value)
    fields = {path: {"code": code, "params": params} for path, (code, params) in (exc.fields or {}).items()}
    log.warning("effect %s on order %s refused: %s %s", type(effect).__name__, order.id, exc.code, fields)
    session.add(OrderEvent(
        order_id=order.id, type="effect_refused", at=now,
        actor_id=actor.user_id if actor is not None and actor.user_id else None,
        actor_label=None if actor is not None and actor.user_id else (actor.display_name if actor else "system"),
        after={"effect": type(effect).__name__, "field": getattr(effect, "field", None),
               "value": _plain(getattr(effect, "value", None)), "code": exc.code, "fields": fields},
    ))
    session.flush()


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "as_tuple"):
        return str(value)
    return value


def bump_after(now: datetime, attempts: int) -> datetime:
    """Retry backoff for deliveries: 30 s, 1 min, 2 min, ... capped at 1 hour."""
    return now + timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


