"""Inbox use cases: list my to-dos, complete a task, comment, urge; checks that refuse acting twice,
as the wrong person, or after the order moved on.

Approvals belong to the flow engine (backend/flows): `act_on_approval` hands them over; everything
else about a to-do is decided here.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import String, case, cast, func, or_, select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.i18n import register_error_messages
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxFilter, InboxItemRead, InboxPage, TaskField
from backend.live.publish import touch
from backend.localized import read_title
from backend.orders import access
from backend.orders.models import Order, OrderEvent
from backend.orders.service import record_event
from backend.people.models import User
from engine import effects as fx

register_error_messages({
    "inbox.not_found": "To-do %(id)s was not found.",
    "inbox.not_yours": "This to-do belongs to %(assignee)s; only they can act on it.",
    "inbox.already_closed": "This to-do was already handled (%(state)s by %(by)s).",
    "inbox.order_moved_on": "Order %(number)s has moved on to %(stage)s; this to-do no longer applies.",
    "inbox.order_closed": "Order %(number)s is %(status)s; this to-do no longer applies.",
    "inbox.approval_unavailable": "Approvals cannot be decided here yet.",
    "inbox.not_an_approval": "This to-do is not an approval.",
    "inbox.field_not_allowed": "This task does not ask for the field %(field)s.",
    "inbox.field_required": "Please fill in this field.",
    "inbox.field_invalid": "The value for %(field)s is not valid.",
    "inbox.attachment_too_large": "The attachment is larger than %(limit)s bytes.",
    "inbox.urge_too_soon": "This to-do was urged less than an hour ago.",
    "inbox.not_initiator": "Only the order's owner can urge this to-do.",
    "inbox.attachment_not_found": "Attachment %(id)s was not found.",
    "inbox.not_in_a_flow": "This to-do does not belong to a flow that could be withdrawn.",
})
STATUS_BY_CODE_HINTS = {"inbox.already_closed": 409, "inbox.order_moved_on": 409, "inbox.order_closed": 409,
                        "inbox.not_yours": 403, "inbox.not_initiator": 403, "inbox.urge_too_soon": 429}
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
# everything but an approval is completed by its holder (rules make rule_alert / escalation to-dos)
NOT_COMPLETABLE = ("approval",)
MAX_ATTACHMENT = 5 * 1024 * 1024
URGE_INTERVAL = timedelta(hours=1)


def _error(code: str, params: dict[str, Any] | None = None, **kwargs) -> GendanError:
    return GendanError(code, params, status=kwargs.pop("status", STATUS_BY_CODE_HINTS.get(code)), **kwargs)


# --- reading ---------------------------------------------------------------------------------------

def _tab_clause(tab: str, actor: Actor):
    mine = InboxItem.assignee_id == actor.user_id
    if tab == "todo":
        return mine & (InboxItem.state == "open") & (InboxItem.kind != "cc")
    if tab == "done":
        return mine & (InboxItem.state != "open")
    if tab == "cc":
        return mine & (InboxItem.kind == "cc")
    # started by me: to-dos others hold on orders I own (or flows I started)
    return (InboxItem.assignee_id != actor.user_id) & (InboxItem.kind != "cc") & (
        InboxItem.order_id.in_(select(Order.id).where(Order.owner_id == actor.user_id)))


def count_open(session: Session, user_id: int) -> int:
    """The nav badge: open to-dos (copies excluded)."""
    return session.exec(select(func.count()).select_from(InboxItem).where(
        InboxItem.assignee_id == user_id, InboxItem.state == "open", InboxItem.kind != "cc")).scalar_one()


def list_items(session: Session, *, actor: Actor, filters: InboxFilter, now: datetime) -> InboxPage:
    base = select(InboxItem).outerjoin(Order, Order.id == InboxItem.order_id).where(_tab_clause(filters.tab, actor))
    if filters.kind:
        base = base.where(InboxItem.kind == filters.kind)
    if filters.priority:
        base = base.where(InboxItem.priority == filters.priority)
    if filters.is_overdue:
        base = base.where(InboxItem.state == "open", InboxItem.due_at < now)
    if filters.q:
        like = f"%{filters.q.strip().lower()}%"
        base = base.outerjoin(Customer, Customer.id == Order.customer_id).where(or_(
            func.lower(InboxItem.title).like(like), func.lower(cast(InboxItem.title_i18n, String)).like(like),
            func.lower(Order.number).like(like),
            func.lower(Customer.name).like(like)))
    total = session.exec(select(func.count()).select_from(base.subquery())).scalar_one()
    rank = case(PRIORITY_RANK, value=InboxItem.priority, else_=2)
    if filters.tab in ("todo", "started"):
        order_by = [rank, InboxItem.due_at.is_(None), InboxItem.due_at, InboxItem.id.desc()]
    else:
        order_by = [func.coalesce(InboxItem.closed_at, InboxItem.created_at).desc(), InboxItem.id.desc()]
    rows = session.exec(base.order_by(*order_by).limit(filters.limit).offset(filters.offset)).scalars().all()
    counts = {tab: session.exec(select(func.count()).select_from(InboxItem).where(
        _tab_clause(tab, actor), InboxItem.state == "open")).scalar_one() for tab in ("todo", "cc", "started")}
    return InboxPage(items=to_reads(session, list(rows), actor=actor, now=now), total=total, counts=counts)


def to_reads(session: Session, items: list[InboxItem], *, actor: Actor, now: datetime) -> list[InboxItemRead]:
    order_ids = {i.order_id for i in items if i.order_id}
    orders = {o.id: o for o in session.exec(select(Order).where(Order.id.in_(order_ids))).scalars()} if order_ids else {}
    customer_ids = {o.customer_id for o in orders.values()}
    customers = ({c.id: c.name for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids))).scalars()}
                 if customer_ids else {})
    user_ids = {i.assignee_id for i in items} | {i.closed_by_id for i in items if i.closed_by_id}
    names = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    out = []
    for item in items:
        order = orders.get(item.order_id)
        out.append(InboxItemRead(
            id=item.id, kind=item.kind, title=read_title(item.title, item.title_i18n), body=item.body, priority=item.priority, state=item.state,
            outcome=item.outcome, due_at=item.due_at, created_at=item.created_at, closed_at=item.closed_at,
            is_overdue=bool(item.state == "open" and item.due_at and item.due_at < now), source=item.source,
            assignee_id=item.assignee_id, assignee_name=names.get(item.assignee_id),
            closed_by_name=names.get(item.closed_by_id), order_id=item.order_id,
            order_number=order.number if order else None, order_stage=order.stage if order else None,
            order_status=order.status if order else None, order_amount=order.amount if order else None,
            order_currency=order.currency if order else None,
            customer_name=customers.get(order.customer_id) if order else None,
            risk_flags=list(order.risk_flags) if order else [], fields=task_fields(item, session),
            flow_instance_id=item.flow_instance_id, node_key=item.node_key,
            is_mine=item.assignee_id == actor.user_id,
        ))
    return out


def task_fields(item: InboxItem, session: Session | None = None) -> list[TaskField]:
    """The fields a to-do asks for: `payload.fields` (rules), or the flow node's editable and
    required designed fields (`data.<key>`, per the node's field permissions)."""
    if item.flow_instance_id is not None and session is not None and not (item.payload or {}).get("fields"):
        return _flow_node_fields(session, item)
    fields = []
    for raw in (item.payload or {}).get("fields") or []:
        try:
            fields.append(TaskField.model_validate(raw))
        except ValueError:
            continue  # a malformed field spec is the rule author's bug; it is not offered
    return fields


def _flow_node_fields(session: Session, item: InboxItem) -> list[TaskField]:
    payload = item.payload or {}
    if not payload.get("flow_key") or not item.node_key:
        return []
    try:
        from backend.flows import service as flows_service

        definition = flows_service.parse_published(
            flows_service.get_row(session, payload["flow_key"], int(payload.get("flow_version") or 0)))
        node = definition.nodes_by_key.get(item.node_key)
    except (ImportError, GendanError, ValueError):
        return []
    if node is None:
        return []
    required = set(getattr(node, "required_fields", ()) or ())
    editable = [k for k, perm in (getattr(node, "field_permissions", {}) or {}).items() if perm == "editable"]
    specs = _designed_field_specs(session, item.order_id)
    fields = []
    for path in dict.fromkeys([*sorted(required), *editable]):
        if path.startswith("data.") and re.match(r"^[a-z][a-z0-9_]{0,59}$", path[5:]):
            label, kind = specs.get(path[5:], (path[5:], "text"))
            fields.append(TaskField(key=path[5:], label=label, type=kind, required=path in required))
    return fields


_INPUT_TYPES = {"date": "date", "number": "number", "money": "number", "percent": "number", "textarea": "textarea"}


def _designed_field_specs(session: Session, order_id: int | None) -> dict[str, tuple[str, str]]:
    """Label (in the reader's language) and input type of the order form's fields, so a flow task
    asks for 生产完成日期 with a date picker rather than for `production_done_on` in a text box.
    The order's own form version (immutable, so parsed once per session), else the published form."""
    try:
        from backend.forms import service as forms_service
    except ImportError:
        return {}
    order = session.get(Order, order_id) if order_id else None
    pinned = (order.form_key, order.form_version) if order is not None and order.form_key and order.form_version \
        else None
    locale = forms_service.engine_locale()
    cache = session.info.setdefault("inbox_form_specs", {})
    if pinned is not None and (pinned, locale) in cache:
        return cache[(pinned, locale)]
    defn = None
    if pinned is not None:
        try:
            defn = forms_service.get_definition(session, *pinned)
        except GendanError:
            defn = None
    defn = defn or forms_service.get_published(session)
    specs = {} if defn is None else {
        f.key: (f.text("label", locale) or f.key, _INPUT_TYPES.get(str(f.type.value), "text")) for f in defn.data_fields()}
    if pinned is not None:
        cache[(pinned, locale)] = specs
    return specs


def get_item(session: Session, *, actor: Actor, item_id: int, now: datetime) -> InboxItemRead:
    item = session.get(InboxItem, item_id)
    if item is None or not _may_see(session, actor, item):
        raise _error("inbox.not_found", {"id": item_id})
    return to_reads(session, [item], actor=actor, now=now)[0]


def _may_see(session: Session, actor: Actor, item: InboxItem) -> bool:
    if item.assignee_id == actor.user_id or actor.is_admin:
        return True
    if item.order_id is None:
        return False
    try:
        access.get_visible_order(session, actor, item.order_id)
    except GendanError:
        return False
    return True


# --- acting ----------------------------------------------------------------------------------------

def _lock_actionable(session: Session, actor: Actor, item_id: int) -> tuple[InboxItem, Order | None]:
    return _check_actionable(session, actor, item_id, lock=True)


def _check_actionable(session: Session, actor: Actor, item_id: int, *, lock: bool) -> tuple[InboxItem, Order | None]:
    """The open to-do, held by the actor, on an order that is still where the to-do was made."""
    stmt = select(InboxItem).where(InboxItem.id == item_id)
    item = session.exec(stmt.with_for_update() if lock else stmt).scalars().first()
    if item is None or not _may_see(session, actor, item):
        raise _error("inbox.not_found", {"id": item_id})
    if item.assignee_id != actor.user_id:
        holder = session.get(User, item.assignee_id)
        raise _error("inbox.not_yours", {"assignee": holder.display_name if holder else item.assignee_id})
    if item.state != "open":
        by = session.get(User, item.closed_by_id) if item.closed_by_id else None
        raise _error("inbox.already_closed", {"state": item.state, "by": by.display_name if by else "system"})
    order = None
    if item.order_id:
        stmt = select(Order).where(Order.id == item.order_id)
        order = session.exec(stmt.with_for_update() if lock else stmt).scalars().first()
    if order is not None and item.kind != "cc":
        if order.status != "open":
            raise _error("inbox.order_closed", {"number": order.number, "status": order.status})
        expected = (item.payload or {}).get("stage")
        if expected and order.stage != expected:
            raise _error("inbox.order_moved_on", {"number": order.number, "stage": order.stage})
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
        raise _error("inbox.approval_unavailable", status=400)
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
        raise GendanError("validation.failed", {"count": len(errors)}, status=422, fields=errors)
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
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={"action": ("field.literal_error", {"expected": ", ".join(FLOW_ACTIONS)})})
    item, _order = _check_actionable(session, actor, item_id, lock=False)
    if item.flow_instance_id is None or not (item.payload or {}).get("task_id"):
        if action == "complete":
            return complete_task(session, actor=actor, item_id=item_id, values=values or {}, note=note, now=now)
        raise _error("inbox.not_an_approval", status=400)
    if action in ("approve", "reject", "send_back", "transfer", "add_signer") and item.kind != "approval":
        raise _error("inbox.not_an_approval", status=400)
    try:
        from backend.flows import service_instance as flows_instances
        from backend.flows.schemas import TaskAction
    except ImportError:
        raise _error("inbox.approval_unavailable", status=501) from None
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


def comment(session: Session, *, actor: Actor, item_id: int, text: str, attachment: tuple[str, bytes] | None,
            upload_dir: Path, now: datetime) -> OrderEvent:
    """A comment (with an optional attachment) on the to-do's order, seen by everyone on it."""
    item = session.get(InboxItem, item_id)
    if item is None or not _may_see(session, actor, item) or item.order_id is None:
        raise _error("inbox.not_found", {"id": item_id})
    text = text.strip()
    if not text and attachment is None:
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={"text": ("field.missing", {"field": "text"})})
    after: dict[str, Any] = {"inbox_item_id": item.id}
    if attachment is not None:
        name, data = attachment
        if len(data) > MAX_ATTACHMENT:
            raise _error("inbox.attachment_too_large", {"limit": MAX_ATTACHMENT}, status=413)
        safe = re.sub(r"[^\w.\-]+", "_", Path(name).name)[:80] or "file"
        stored = f"{uuid.uuid4().hex}__{safe}"
        folder = upload_dir / "inbox"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / stored).write_bytes(data)
        after["attachment"] = {"name": safe, "stored": stored, "size": len(data)}
    order = session.get(Order, item.order_id)
    event = record_event(session, order, type="commented", actor=actor, now=now, after=after, note=text[:2000])
    session.flush()
    others = set(session.exec(select(InboxItem.assignee_id).where(InboxItem.order_id == order.id,
                                                                  InboxItem.state == "open")).scalars())
    others = (others | {order.owner_id}) - {actor.user_id}
    if others:
        apply_effects(session, [fx.Notify(dedupe_key=f"comment:{event.id}", user_ids=tuple(sorted(others)),
                                          title=f"{order.number}: {actor.display_name}", body=text[:300])],
                      order=order, actor=actor, now=now)
    session.commit()
    return event


def list_comments(session: Session, *, actor: Actor, item_id: int) -> list[OrderEvent]:
    item = session.get(InboxItem, item_id)
    if item is None or not _may_see(session, actor, item) or item.order_id is None:
        raise _error("inbox.not_found", {"id": item_id})
    return list(session.exec(select(OrderEvent).where(OrderEvent.order_id == item.order_id,
                                                      OrderEvent.type == "commented")
                             .order_by(OrderEvent.at, OrderEvent.id)).scalars())


def attachment_path(session: Session, *, actor: Actor, event_id: int, upload_dir: Path) -> tuple[Path, str]:
    event = session.get(OrderEvent, event_id)
    info = (event.after or {}).get("attachment") if event is not None and event.type == "commented" else None
    if not info:
        raise _error("inbox.attachment_not_found", {"id": event_id})
    try:
        access.get_visible_order(session, actor, event.order_id)
    except GendanError:
        raise _error("inbox.attachment_not_found", {"id": event_id}) from None
    return upload_dir / "inbox" / Path(info["stored"]).name, info["name"]


def urge(session: Session, *, actor: Actor, item_id: int, now: datetime) -> InboxItemRead:
    """催办: the order's owner (the initiator) nudges whoever holds an open to-do; at most hourly."""
    item = session.exec(select(InboxItem).where(InboxItem.id == item_id).with_for_update()).scalars().first()
    if item is None or not _may_see(session, actor, item):
        raise _error("inbox.not_found", {"id": item_id})
    order = session.get(Order, item.order_id) if item.order_id else None
    if order is None or (order.owner_id != actor.user_id and not actor.is_admin):
        raise _error("inbox.not_initiator")
    if item.state != "open":
        raise _error("inbox.already_closed", {"state": item.state, "by": "-"})
    last = (item.payload or {}).get("last_urged_at")
    if last and datetime.fromisoformat(last) > now - URGE_INTERVAL:
        raise _error("inbox.urge_too_soon")
    item.payload = {**(item.payload or {}), "last_urged_at": now.isoformat(),
                    "urge_count": int((item.payload or {}).get("urge_count", 0)) + 1}
    if item.priority in ("low", "normal"):
        item.priority = "high"
    if item.flow_instance_id is not None:
        from backend.flows import service_instance as flows_instances
        from backend.flows.schemas import InstanceAction

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
    if item is None or not _may_see(session, actor, item):
        raise _error("inbox.not_found", {"id": item_id})
    if item.state != "open":
        raise _error("inbox.already_closed", {"state": item.state, "by": "-"})
    if item.flow_instance_id is None:
        raise _error("inbox.not_in_a_flow", status=400)
    from backend.flows import service_instance as flows_instances
    from backend.flows.schemas import InstanceAction

    flows_instances.act_on_instance(session, actor=actor, instance_id=item.flow_instance_id,
                                    body=InstanceAction(action="withdraw", note=note), now=now)
    session.refresh(item)
    return to_reads(session, [item], actor=actor, now=now)[0]


__all__ = ["withdraw", "act_on_flow_task", "bulk_approve", "attachment_path", "comment", "complete_task", "count_open", "get_item",
           "list_comments", "list_items", "task_fields", "to_reads", "urge"]
