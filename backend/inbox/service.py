"""Inbox use cases, reading: my to-dos by tab (to do, done, copies, started by me), the nav badge,
one to-do, and who may see it.

Acting on a to-do is in service_action.py, comments and attachments in service_comment.py, the
fields a to-do asks for in fields.py. Approvals belong to the flow engine (backend/flows).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, case, cast, func, or_, select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.inbox.fields import task_fields
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxFilter, InboxItemRead, InboxPage
from backend.localized import read_title
from backend.orders import access
from backend.orders.models import Order
from backend.people.models import User

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


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
    offset = filters.offset
    if offset >= total:
        # a page that emptied (its to-dos were handled, here or elsewhere): show the last one left
        offset = max(0, (total - 1) // filters.limit * filters.limit)
    rows = session.exec(base.order_by(*order_by).limit(filters.limit).offset(offset)).scalars().all()
    counts = {tab: session.exec(select(func.count()).select_from(InboxItem).where(
        _tab_clause(tab, actor), InboxItem.state == "open")).scalar_one() for tab in ("todo", "cc", "started")}
    return InboxPage(items=to_reads(session, list(rows), actor=actor, now=now), total=total, counts=counts,
                     offset=offset, limit=filters.limit)


def to_reads(session: Session, items: list[InboxItem], *, actor: Actor, now: datetime) -> list[InboxItemRead]:
    order_ids = {i.order_id for i in items if i.order_id}
    orders = {o.id: o for o in session.exec(select(Order).where(Order.id.in_(order_ids))).scalars()} if order_ids else {}
    customer_ids = {o.customer_id for o in orders.values()}
    customers = ({c.id: c.name for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids))).scalars()}
                 if customer_ids else {})
    user_ids = {i.assignee_id for i in items} | {i.closed_by_id for i in items if i.closed_by_id}
    names = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    out = []
    cache_owner = "inbox_read_cache" not in session.info
    session.info.setdefault("inbox_read_cache", {})
    try:
        for item in items:
            out.append(_to_read(session, item, orders, customers, names, actor=actor, now=now))
    finally:
        if cache_owner:
            session.info.pop("inbox_read_cache", None)
    return out


def _to_read(session: Session, item: InboxItem, orders, customers, names, *, actor: Actor,
             now: datetime) -> InboxItemRead:
    order = orders.get(item.order_id)
    return InboxItemRead(
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
        is_mine=item.assignee_id == actor.user_id, times=_times(item),
    )


def _times(item: InboxItem) -> int:
    try:
        return max(1, int((item.payload or {}).get("count") or 1))
    except (TypeError, ValueError):
        return 1


def get_item(session: Session, *, actor: Actor, item_id: int, now: datetime) -> InboxItemRead:
    item = session.get(InboxItem, item_id)
    if item is None or not may_see(session, actor, item):
        raise GendanError("inbox.not_found", {"id": item_id})
    return to_reads(session, [item], actor=actor, now=now)[0]


def may_see(session: Session, actor: Actor, item: InboxItem) -> bool:
    if item.assignee_id == actor.user_id or actor.is_admin:
        return True
    if item.order_id is None:
        return False
    try:
        access.get_visible_order(session, actor, item.order_id)
    except GendanError:
        return False
    return True
