"""Row-level access to orders, enforced in services so the API and the pages agree.

- admin, viewer: every order (viewer read-only);
- sales: their own orders and those of the people below them in the org chart;
- warehouse / finance: orders in the stages they work on;
- approver: orders waiting for approval, and any order on which they hold a to-do;
- anyone: orders on which they hold a to-do (they were asked to act).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import undefer_group
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.orders.models import PREDICTION_GROUP, Order
from backend.people.org import team_user_ids

STAGES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "warehouse": ("production", "shipping", "delivered"),
    "finance": ("invoicing", "payment", "completed"),
    "approver": ("approval", "tech_confirm"),
}


def visible_orders_clause(session: Session, actor: Actor) -> ColumnElement[bool]:
    if actor.has_role("admin", "viewer"):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if actor.has_role("sales"):
        clauses.append(Order.owner_id.in_(sorted(team_user_ids(session, actor.user_id))))
    else:
        clauses.append(Order.owner_id == actor.user_id)
    stages = sorted({s for role in actor.roles for s in STAGES_BY_ROLE.get(role, ())})
    if stages:
        clauses.append(Order.stage.in_(stages))
    clauses.append(
        Order.id.in_(select(InboxItem.order_id).where(InboxItem.assignee_id == actor.user_id,
                                                      InboxItem.order_id.is_not(None)))
    )
    return or_(*clauses) if clauses else false()


def get_visible_order(session: Session, actor: Actor, order_id: int, *, for_update: bool = False) -> Order:
    """The order if the actor may see it; not-found otherwise (no hint that it exists)."""
    # one order shown (OrderRead) or changed (its event rules read the prediction facts): its
    # prediction in the same statement, as before it was deferred on Order
    stmt = select(Order).where(Order.id == order_id, visible_orders_clause(session, actor)) \
        .options(undefer_group(PREDICTION_GROUP))
    if for_update:
        stmt = stmt.with_for_update()
    order = session.exec(stmt).scalars().first()
    if order is None:
        raise GendanError("order.not_found", {"id": order_id})
    return order
