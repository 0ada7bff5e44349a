"""Order use cases: create, update, read, list, history. One transaction each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.orders import access
from backend.orders.keyset import NULL_DATE, decode_cursor, encode_cursor, seek_clause
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import (
    OrderCreate,
    OrderEventRead,
    OrderFilter,
    OrderPage,
    OrderRead,
    OrderUpdate,
)
from backend.people.models import User

# Hooks run inside the use case's transaction after the order row is written (flush only):
# the composition root (backend/app.py) registers the form validator, flow start, event rules.
OrderHook = Callable[..., None]
before_save_hooks: list[OrderHook] = []  # (session, order, *, actor, now, is_new) -> may raise
after_change_hooks: list[OrderHook] = []  # (session, order, *, changes, actor, now, is_new)

TRACKED_FIELDS = (
    "customer_id", "owner_id", "amount", "currency", "stage", "status", "planned_delivery",
    "payment_due", "data", "tags", "risk_flags",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def snapshot(order: Order, fields: tuple[str, ...] = TRACKED_FIELDS) -> dict[str, Any]:
    return {f: _jsonable(getattr(order, f)) for f in fields}


def record_event(session: Session, order: Order, *, type: str, actor: Actor | None, now: datetime,
                 before: dict | None = None, after: dict | None = None, note: str | None = None,
                 actor_label: str | None = None) -> OrderEvent:
    event = OrderEvent(
        order_id=order.id, type=type, at=now, before=before, after=after, note=note,
        actor_id=actor.user_id if actor and actor.user_id else None,
        actor_label=actor_label or (actor.display_name if actor else None),
    )
    session.add(event)
    return event


def _next_number(session: Session, now: datetime) -> str:
    prefix = f"SO{now:%Y%m%d}-"
    last = session.exec(
        select(Order.number).where(Order.number.like(prefix + "%")).order_by(Order.number.desc()).limit(1)
    ).scalars().first()
    seq = int(last.rsplit("-", 1)[1]) + 1 if last and last.rsplit("-", 1)[1].isdigit() else 1
    return f"{prefix}{seq:05d}"


def _check_refs(session: Session, *, customer_id: int | None, owner_id: int | None) -> None:
    fields = {}
    if customer_id is not None and session.get(Customer, customer_id) is None:
        fields["customer_id"] = ("customer.not_found", {"id": customer_id})
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None or not owner.is_active:
            fields["owner_id"] = ("user.not_found", {"id": owner_id})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)


def create_order(session: Session, *, actor: Actor, payload: OrderCreate, now: datetime) -> tuple[OrderRead, bool]:
    """Create an order; with a known (source, external_id) return the existing one (idempotent).

    Returns (order, created).
    """
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    if payload.external_id:
        existing = session.exec(
            select(Order).where(Order.source == payload.source, Order.external_id == payload.external_id)
        ).scalars().first()
        if existing is not None:
            return to_read(session, access.get_visible_order(session, actor, existing.id)), False
    owner_id = payload.owner_id or actor.user_id
    _check_refs(session, customer_id=payload.customer_id, owner_id=owner_id)
    if payload.payment_due and payload.payment_due < now.date().replace(year=now.year - 5):
        raise GendanError("order.invalid_dates")
    order = Order(
        number=payload.number or _next_number(session, now),
        customer_id=payload.customer_id, owner_id=owner_id, amount=payload.amount,
        currency=payload.currency, stage=payload.stage, status="open", stage_entered_at=now,
        planned_delivery=payload.planned_delivery, payment_due=payload.payment_due,
        source=payload.source, external_id=payload.external_id, data=dict(payload.data),
        tags=list(dict.fromkeys(payload.tags)), risk_flags=[], version=1, created_at=now, updated_at=now,
    )
    for hook in before_save_hooks:
        hook(session, order, actor=actor, now=now, is_new=True)
    session.add(order)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if payload.external_id:  # lost a race with the same (source, external_id): return the winner
            winner = session.exec(select(Order).where(Order.source == payload.source,
                                                      Order.external_id == payload.external_id)).scalars().first()
            if winner is not None:
                return to_read(session, winner), False
        raise GendanError("order.number_taken", {"number": order.number}, status=409) from exc
    record_event(session, order, type="created", actor=actor, now=now, after=snapshot(order))
    for hook in after_change_hooks:
        hook(session, order, changes=snapshot(order), actor=actor, now=now, is_new=True)
    session.commit()
    return to_read(session, order), True


def update_order(session: Session, *, actor: Actor, order_id: int, payload: OrderUpdate, now: datetime) -> OrderRead:
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    order = access.get_visible_order(session, actor, order_id, for_update=True)
    if order.version != payload.version:
        raise GendanError("order.version_conflict", {"current_version": order.version, "sent_version": payload.version})
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    _check_refs(session, customer_id=changes.get("customer_id"), owner_id=changes.get("owner_id"))
    if "data" in changes and changes["data"] is not None:
        changes["data"] = {**order.data, **changes["data"]}
    changed = {k: v for k, v in changes.items() if getattr(order, k) != v}
    if not changed:
        return to_read(session, order)
    before = snapshot(order, tuple(changed))
    for key, value in changed.items():
        setattr(order, key, value)
    if "stage" in changed:
        order.stage_entered_at = now
    if "status" in changed:
        order.closed_at = now if order.status != "open" else None
    order.version += 1
    order.updated_at = now
    for hook in before_save_hooks:
        hook(session, order, actor=actor, now=now, is_new=False)
    session.flush()
    record_event(session, order, type="stage_entered" if "stage" in changed else "updated", actor=actor,
                 now=now, before=before, after=snapshot(order, tuple(changed)))
    for hook in after_change_hooks:
        hook(session, order, changes=before, actor=actor, now=now, is_new=False)
    session.commit()
    return to_read(session, order)


def get_order(session: Session, *, actor: Actor, order_id: int) -> OrderRead:
    return to_read(session, access.get_visible_order(session, actor, order_id))


def to_read(session: Session, order: Order) -> OrderRead:
    read = OrderRead.model_validate(order)
    customer = session.get(Customer, order.customer_id)
    owner = session.get(User, order.owner_id)
    read.customer_name = customer.name if customer else None
    read.owner_name = owner.display_name if owner else None
    return read


SORT_COLUMNS = {
    "created_at": Order.created_at,
    "updated_at": Order.updated_at,
    "amount": Order.amount,
    "number": Order.number,
    "stage_entered_at": Order.stage_entered_at,
    "planned_delivery": func.coalesce(Order.planned_delivery, NULL_DATE),
}


def _filtered(session: Session, actor: Actor, f: OrderFilter):
    clauses = [access.visible_orders_clause(session, actor)]
    if f.q:
        like = f"%{f.q.strip()}%"
        customer_ids = select(Customer.id).where(Customer.name.ilike(like))
        clauses.append(or_(Order.number.ilike(like), Order.customer_id.in_(customer_ids),
                           Order.external_id.ilike(like)))
    if f.stage:
        clauses.append(Order.stage.in_(f.stage))
    if f.status:
        clauses.append(Order.status.in_(f.status))
    if f.owner_id is not None:
        clauses.append(Order.owner_id == f.owner_id)
    if f.customer_id is not None:
        clauses.append(Order.customer_id == f.customer_id)
    if f.created_from:
        clauses.append(Order.created_at >= datetime.combine(f.created_from, datetime.min.time()).replace(tzinfo=UTC))
    if f.created_to:
        clauses.append(Order.created_at < datetime.combine(f.created_to, datetime.max.time()).replace(tzinfo=UTC))
    if f.delivery_from:
        clauses.append(Order.planned_delivery >= f.delivery_from)
    if f.delivery_to:
        clauses.append(Order.planned_delivery <= f.delivery_to)
    if f.amount_min is not None:
        clauses.append(Order.amount >= f.amount_min)
    if f.amount_max is not None:
        clauses.append(Order.amount <= f.amount_max)
    return clauses


def list_orders(session: Session, *, actor: Actor, filters: OrderFilter) -> OrderPage:
    clauses = _filtered(session, actor, filters)
    column = SORT_COLUMNS[filters.sort]
    descending = filters.direction == "desc"
    stmt = select(Order).where(*clauses)
    if filters.tag:
        # tags are a short JSON list; filtered in Python after the page query would break paging,
        # so match the JSON text (tags are restricted to simple words)
        stmt = stmt.where(cast(Order.tags, Text).like(f'%"{filters.tag}"%'))
    if filters.cursor:
        value, row_id = decode_cursor(filters.cursor)
        stmt = stmt.where(seek_clause(column, Order.id, value, row_id, descending))
    order_by = (column.desc(), Order.id.desc()) if descending else (column.asc(), Order.id.asc())
    rows = session.exec(stmt.order_by(*order_by).limit(filters.limit + 1)).scalars().all()
    has_more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        value = getattr(last, filters.sort)
        if filters.sort == "planned_delivery" and value is None:
            value = NULL_DATE
        next_cursor = encode_cursor(value, last.id)
    total = None
    if filters.with_total:
        total = session.exec(select(func.count()).select_from(Order).where(*clauses)).scalar_one()
    return OrderPage(items=_reads(session, rows), next_cursor=next_cursor, total=total)


def _reads(session: Session, rows: list[Order]) -> list[OrderRead]:
    """Bulk version of to_read: two queries for the names, not two per row."""
    customer_ids = {o.customer_id for o in rows}
    owner_ids = {o.owner_id for o in rows}
    customers = dict(session.exec(select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids))).all()) if rows else {}
    owners = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(owner_ids))).all()) if rows else {}
    out = []
    for o in rows:
        read = OrderRead.model_validate(o)
        read.customer_name = customers.get(o.customer_id)
        read.owner_name = owners.get(o.owner_id)
        out.append(read)
    return out


def list_events(session: Session, *, actor: Actor, order_id: int) -> list[OrderEventRead]:
    order = access.get_visible_order(session, actor, order_id)
    events = session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.at, OrderEvent.id)
    ).scalars().all()
    user_ids = {e.actor_id for e in events if e.actor_id}
    names = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    out = []
    for e in events:
        read = OrderEventRead.model_validate(e)
        read.actor_name = names.get(e.actor_id) or e.actor_label
        out.append(read)
    return out
