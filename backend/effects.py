"""Apply engine effects inside the caller's transaction: rows only, flush at most.

Every effect is stored at most once under its `dedupe_key` (unique indexes back this up), so a
retried scan or two workers applying the same firing cannot duplicate a to-do or a message.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.inbox.models import InboxItem
from backend.localized import split_title
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from engine import effects as fx

# channel -> function(session, order, effect, now) registered by the notify package (composition root)
extra_appliers: dict[type, Any] = {}
# called after rows for to-dos / notifications are added, so live updates can be pushed after commit
on_user_touched: list[Any] = []


def apply_effects(session: Session, effects: list, *, order: Order | None, actor: Actor | None,
                  now: datetime, source: str = "flow") -> list[Any]:
    """Turn effects into rows. Returns the rows created (new ones only)."""
    created: list[Any] = []
    touched_users: set[int] = set()
    for effect in effects:
        handler = extra_appliers.get(type(effect))
        if handler is not None:
            created.extend(handler(session, effect, order=order, actor=actor, now=now) or [])
            continue
        if isinstance(effect, fx.CreateTodo):
            title, title_i18n = split_title(effect.title)
            for user_id in dict.fromkeys(effect.assignee_ids):
                row = _once(session, InboxItem, effect.dedupe_key, user_id)
                if row is None:
                    item = InboxItem(
                        dedupe_key=effect.dedupe_key, order_id=order.id if order else None, assignee_id=user_id,
                        kind=effect.kind, title=title, title_i18n=title_i18n, body=effect.body[:4000],
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
                                     kind="cc", title=title, title_i18n=title_i18n, body=effect.body[:4000],
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
            for user_id in dict.fromkeys(effect.user_ids):
                if _once(session, Notification, effect.dedupe_key, user_id) is None:
                    note = Notification(dedupe_key=effect.dedupe_key, user_id=user_id,
                                        order_id=order.id if order else None, title=title, title_i18n=title_i18n,
                                        body=effect.body[:4000], created_at=now,
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
        elif isinstance(effect, (fx.SetField, fx.AddTag, fx.AddRiskFlag, fx.EnterStage, fx.CompleteOrder)):
            if order is not None:
                _change_order(session, order, effect, actor=actor, now=now)
        else:
            # ScheduleTimer / CancelTimer / StartFlow belong to the flows package, which registers
            # them in extra_appliers; an effect nobody handles is a bug, not something to drop
            raise TypeError(f"no applier for effect {type(effect).__name__}")
    session.flush()
    for callback in on_user_touched:
        callback(session, touched_users)
    return created


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
    return enqueue(session, dedupe_key=effect.dedupe_key, channel=channel, recipient=recipient,
                   subject=effect.subject, body=effect.body, payload={"customer_id": customer.id},
                   order_id=order.id, now=now)


CORE_SETTABLE = {"planned_delivery", "payment_due", "amount", "currency", "owner_id", "stage", "status"}


def _change_order(session: Session, order: Order, effect, *, actor: Actor | None, now: datetime) -> None:
    from backend.orders.service import record_event  # service imports this module's callers

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if isinstance(effect, fx.SetField):
        if effect.field.startswith("data."):
            key = effect.field[5:]
            before[effect.field] = order.data.get(key)
            order.data = {**order.data, key: effect.value}
        elif effect.field in CORE_SETTABLE:
            before[effect.field] = _plain(getattr(order, effect.field))
            value = effect.value
            if effect.field in ("planned_delivery", "payment_due") and isinstance(value, str):
                value = date.fromisoformat(value)
            setattr(order, effect.field, value)
            if effect.field == "stage":
                order.stage_entered_at = now
        else:
            raise ValueError(f"field {effect.field} cannot be set by a rule or flow")
        after[effect.field] = _plain(effect.value)
        kind = "field_set"
    elif isinstance(effect, fx.AddTag):
        if effect.tag in order.tags:
            return
        before["tags"], order.tags = list(order.tags), [*order.tags, effect.tag]
        after["tags"] = order.tags
        kind = "tag_added"
    elif isinstance(effect, fx.AddRiskFlag):
        if effect.flag in order.risk_flags:
            return
        before["risk_flags"], order.risk_flags = list(order.risk_flags), [*order.risk_flags, effect.flag]
        after["risk_flags"] = order.risk_flags
        kind = "risk_flagged"
    elif isinstance(effect, fx.EnterStage):
        if order.stage == effect.stage:
            return
        before["stage"], order.stage, order.stage_entered_at = order.stage, effect.stage, now
        after["stage"] = effect.stage
        kind = "stage_entered"
    else:  # CompleteOrder
        if order.status == effect.status:
            return
        before["status"], order.status, order.closed_at = order.status, effect.status, now
        after["status"] = effect.status
        kind = "completed" if effect.status == "completed" else "cancelled"
    order.version += 1
    order.updated_at = now
    session.flush()
    record_event(session, order, type=kind, actor=actor, now=now, before=before, after=after,
                 note=getattr(effect, "reason", None) or None)


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "as_tuple"):
        return str(value)
    return value


def bump_after(now: datetime, attempts: int) -> datetime:
    """Retry backoff for deliveries: 30 s, 1 min, 2 min, ... capped at 1 hour."""
    return now + timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


