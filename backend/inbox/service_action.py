"""Inbox use cases, acting: complete a task, decide a flow to-do (approve, reject, send back,
transfer, add a signer), bulk-approve, urge (催办) and withdraw (撤回); with the checks that refuse
acting twice, as the wrong person, or after the order moved on.

Approvals belong to the flow engine (backend/flows): `act_on_flow_task` hands them over; everything
else about a to-do is decided here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.flows import service_instance as flows_instances
from backend.flows.schemas import InstanceAction, TaskAction
from backend.inbox.fields import task_fields
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxItemRead, TaskField
from backend.inbox.service import may_see, to_reads
from backend.live.publish import touch
from backend.orders.models import Order
from backend.orders.service import record_event
from backend.people.models import User
from engine import effects as fx

# everything but an approval is completed by its holder (rules make rule_alert / escalation to-dos)
NOT_COMPLETABLE = ("approval",)
URGE_INTERVAL = timedelta(hours=1)


def _lock_actionable(session: Session, actor: Actor, item_id: int) -> tuple[InboxItem, Order | None]:
    return _check_actionable(session, actor, item_id, lock=True)


def _check_actionable(session: Session, actor: Actor, item_id: int, *, lock: bool) -> tuple[InboxItem, Order | None]:
    """The open to-do, held by the actor, on an order that is still where the to-do was made."""
    stmt = select(InboxItem).where(InboxItem.id == item_id)
    item = session.exec(stmt.with_for_update() if lock else stmt).scalars().first()
    if item is None or not may_see(session, actor, item):
        raise GendanError("inbox.not_found", {"id": item_id})
    if item.assignee_id != actor.user_id:
        holder = session.get(User, item.assignee_id)
        raise GendanError("inbox.not_yours", {"assignee": holder.display_name if holder else item.assignee_id})
    if item.state != "open":
        by = session.get(User, item.closed_by_id) if item.closed_by_id else None
        raise GendanError("inbox.already_closed", {"state": item.state, "by": by.display_name if by else "system"})
    order = None
    if item.order_id:
        stmt = select(Order).where(Order.id == item.order_id)
        order = session.exec(stmt.with_for_update() if lock else stmt).scalars().first()
    if order is not None and item.kind != "cc":
        if order.status != "open":
            raise GendanError("inbox.order_closed", {"number": order.number, "status": order.status})
        expected = (item.payload or {}).get("stage")
        if expected and order.stage != expected:
            raise GendanError("inbox.order_moved_on", {"number": order.number, "stage": order.stage})
    return item, order


def _close(session: Session, item: InboxItem, *, actor: Actor, outcome: str, now: datetime) -> set[int]:
    """Close the item and its siblings (the same to-do given to several people: first one wins)."""
    touched = {item.assignee_id}
    item.state, item.outcome, item.closed_at, item.closed_by_id = "done", outcome, now, actor.user_id
    siblings = session.exec(select(InboxItem).where(InboxItem.dedupe_key == item.dedupe_key,
                                                    InboxItem.id != item.id, InboxItem.state == "open")).scalars()
    for other in siblings:
        other.state, other.outcome, other.closed_at, other.closed_by_id = "superseded", outcome, now, actor.user_id
        touched.add(other.assignee_id)
    return touched


def complete_task(session: Session, *, actor: Actor, item_id: int, values: dict[str, Any], note: str,
                  now: datetime) -> InboxItemRead:
    """Complete a task/reminder/follow-up (or acknowledge a copy): the asked-for fields are written
    to the order (only those), the order's log records it, the to-do closes. One transaction."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    probe = session.get(InboxItem, item_id)
    if probe is not None and probe.flow_instance_id is not None and (probe.payload or {}).get("task_id"):
        return act_on_flow_task(session, actor=actor, item_id=item_id, action="complete", values=values,
                                note=note, now=now)
    item, order = _lock_actionable(session, actor, item_id)
    if item.kind in NOT_COMPLETABLE:
        raise GendanError("inbox.approval_unavailable")
    clean = _validate_values(task_fields(item), values)
    effects: list = [fx.SetField(dedupe_key=f"inbox:{item.id}:{key}", field=f"data.{key}", value=value)
                     for key, value in clean.items()]
    if order is not None and effects:
        apply_effects(session, effects, order=order, actor=actor, now=now, source="flow")
    touched = _close(session, item, actor=actor, outcome="acknowledged" if item.kind == "cc" else "done", now=now)
    if order is not None and item.kind != "cc":
        record_event(session, order, type="task_completed", actor=actor, now=now, after=clean or None,
                     note=(note or item.title)[:2000])
    touch(session, touched | _watchers(session, order), "inbox")
    session.commit()
    return to_reads(session, [item], actor=actor, now=now)[0]


def _watchers(session: Session, order: Order | None) -> set[int]:
    """Whose 'started by me' tab shows this order's to-dos: the owner."""
    return {order.owner_id} if order is not None else set()


def _validate_values(fields: list[TaskField], values: dict[str, Any]) -> dict[str, Any]:
    allowed = {f.key: f for f in fields}
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    for key in values:
        if key not in allowed:
            errors[key] = ("inbox.field_not_allowed", {"field": key})
    clean: dict[str, Any] = {}
    for key, spec in allowed.items():
        raw = values.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.is_required:
                errors[key] = ("inbox.field_required", {"field": spec.label or key})
            continue
        try:
            clean[key] = _coerce(spec.type, raw)
        except (ValueError, InvalidOperation):
            errors[key] = ("inbox.field_invalid", {"field": spec.label or key})
    if errors:
        raise GendanError("validation.failed", {"count": len(errors)}, fields=errors)
    return clean


def _coerce(kind: str, raw: Any) -> Any:
    text = str(raw).strip()
    if kind == "number":
        number = Decimal(text)
        if not number.is_finite():
            raise ValueError(text)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "date":
        return date.fromisoformat(text).isoformat()
    if len(text) > 2000:
        raise ValueError("too long")
    return text


FLOW_ACTIONS = ("approve", "reject", "send_back", "transfer", "add_signer", "complete")


def act_on_flow_task(session: Session, *, actor: Actor, item_id: int, action: str, note: str = "",
                     values: dict[str, Any] | None = None, to_user_id: int | None = None,
                     user_ids: list[int] | None = None, send_back_to: str = "previous", now: datetime) -> Any:
    """Approve / reject / send back / transfer / add a signer / complete a flow to-do.

    The checks every inbox action shares run first (a second click, the wrong person and a closed
    order get the inbox's clear answers), then the flow engine decides (backend/flows). The item is
    not locked here: the flow service locks the instance first and then closes the to-dos, and
    taking the locks in the other order could deadlock two approvers.
    """
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    if action not in FLOW_ACTIONS:
        raise GendanError("validation.failed", {"count": 1},
                          fields={"action": ("field.literal_error", {"expected": ", ".join(FLOW_ACTIONS)})})
    item, _order = _check_actionable(session, actor, item_id, lock=False)
    if item.flow_instance_id is None or not (item.payload or {}).get("task_id"):
        if action == "complete":
            return complete_task(session, actor=actor, item_id=item_id, values=values or {}, note=note, now=now)
        raise GendanError("inbox.not_an_approval")
    if action in ("approve", "reject", "send_back", "transfer", "add_signer") and item.kind != "approval":
        raise GendanError("inbox.not_an_approval")
    # the inbox names designed fields by key; the flow engine by path (`data.tracking_no`)
    values = {k if "." in k else f"data.{k}": v for k, v in (values or {}).items()}
    body = TaskAction(action=action, note=note, values=values, to=send_back_to, to_user_id=to_user_id,
                      user_ids=list(user_ids or []))
    flows_instances.act_on_task(session, actor=actor, instance_id=item.flow_instance_id,
                                task_id=str(item.payload["task_id"]), body=body, now=now)
    session.refresh(item)
    return to_reads(session, [item], actor=actor, now=now)[0]


def bulk_approve(session: Session, *, actor: Actor, item_ids: list[int], note: str, now: datetime) -> dict[int, str]:
    """Approve each selected approval in its own transaction; returns item id -> "ok" or error code."""
    outcome: dict[int, str] = {}
    for item_id in dict.fromkeys(item_ids):
        try:
            act_on_flow_task(session, actor=actor, item_id=item_id, action="approve", note=note, now=now)
            outcome[item_id] = "ok"
        except GendanError as exc:
            session.rollback()
            outcome[item_id] = exc.code
    return outcome


def urge(session: Session, *, actor: Actor, item_id: int, now: datetime) -> InboxItemRead:
    """催办: the order's owner (the initiator) nudges whoever holds an open to-do; at most hourly."""
    item = session.exec(select(InboxItem).where(InboxItem.id == item_id).with_for_update()).scalars().first()
    if item is None or not may_see(session, actor, item):
        raise GendanError("inbox.not_found", {"id": item_id})
    order = session.get(Order, item.order_id) if item.order_id else None
    if order is None or (order.owner_id != actor.user_id and not actor.is_admin):
        raise GendanError("inbox.not_initiator")
    if item.state != "open":
        raise GendanError("inbox.already_closed", {"state": item.state, "by": "-"})
    last = (item.payload or {}).get("last_urged_at")
    if last and datetime.fromisoformat(last) > now - URGE_INTERVAL:
        raise GendanError("inbox.urge_too_soon")
    item.payload = {**(item.payload or {}), "last_urged_at": now.isoformat(),
                    "urge_count": int((item.payload or {}).get("urge_count", 0)) + 1}
    if item.priority in ("low", "normal"):
        item.priority = "high"
    if item.flow_instance_id is not None:
        # the flow records the urge in its history and notifies the holder; it commits
        flows_instances.act_on_instance(session, actor=actor, instance_id=item.flow_instance_id,
                                        body=InstanceAction(action="urge", node_key=item.node_key), now=now)
        return to_reads(session, [item], actor=actor, now=now)[0]
    apply_effects(session, [fx.Notify(dedupe_key=f"urge:{item.id}:{now.isoformat()}", user_ids=(item.assignee_id,),
                                      title=f"{order.number}: {item.title}", body=actor.display_name)],
                  order=order, actor=actor, now=now)
    touch(session, {item.assignee_id}, "inbox")
    session.commit()
    return to_reads(session, [item], actor=actor, now=now)[0]


def withdraw(session: Session, *, actor: Actor, item_id: int, note: str, now: datetime) -> InboxItemRead:
    """撤回: the initiator withdraws the flow an open to-do belongs to (the flow engine decides)."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    item = session.get(InboxItem, item_id)
    if item is None or not may_see(session, actor, item):
        raise GendanError("inbox.not_found", {"id": item_id})
    if item.state != "open":
        raise GendanError("inbox.already_closed", {"state": item.state, "by": "-"})
    if item.flow_instance_id is None:
        raise GendanError("inbox.not_in_a_flow")
    flows_instances.act_on_instance(session, actor=actor, instance_id=item.flow_instance_id,
                                    body=InstanceAction(action="withdraw", note=note), now=now)
    session.refresh(item)
    return to_reads(session, [item], actor=actor, now=now)[0]
