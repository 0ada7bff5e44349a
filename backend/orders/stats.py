"""Dashboard queries: counts per stage, overdue and risk-flagged orders, orders created per week.

Every query is restricted by the same row-level clause as the order list, so a sales user's
dashboard counts only the orders they may open. Each is one set-based query (no Python loops over
orders), so the numbers stay cheap on a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Text, case, cast, func, select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.installation.service import get_installation
from backend.orders import access
from backend.orders.models import Order
from backend.people.models import User

# Once an order reaches one of these stages its goods are with the customer: no longer "overdue".
DELIVERED_STAGES = ("delivered", "invoicing", "payment", "completed")


@dataclass(frozen=True)
class StageCount:
    stage: str
    count: int


@dataclass(frozen=True)
class WeekCount:
    week_start: date  # a Monday in the installation's zone
    count: int


@dataclass(frozen=True)
class OrderLine:
    id: int
    number: str
    customer_name: str | None
    owner_name: str | None
    stage: str
    planned_delivery: date | None
    days_overdue: int | None
    risk_flags: list[str]


def visible_clause(session: Session, actor: Actor):
    """The row-level filter, built once and passed to several of the queries below."""
    return access.visible_orders_clause(session, actor)


def count_by_stage(session: Session, *, actor: Actor, visible=None) -> list[StageCount]:
    """Open orders per stage, largest first."""
    visible = visible if visible is not None else visible_clause(session, actor)
    rows = session.exec(
        select(Order.stage, func.count()).where(visible, Order.status == "open")
        .group_by(Order.stage).order_by(func.count().desc(), Order.stage)
    ).all()
    return [StageCount(stage, int(n)) for stage, n in rows]


def _today(session: Session, now: datetime) -> date:
    """The installation's date at `now` (at 00:30 in Shanghai yesterday's deliveries are overdue)."""
    return get_installation(session).today(now)


def overdue_clause(today: date):
    return (Order.status == "open") & (Order.planned_delivery < today) & Order.stage.not_in(DELIVERED_STAGES)


def count_overdue(session: Session, *, actor: Actor, now: datetime, visible=None) -> int:
    visible = visible if visible is not None else visible_clause(session, actor)
    return int(session.exec(select(func.count()).select_from(Order)
                            .where(visible, overdue_clause(_today(session, now)))).scalar_one())


def list_overdue(session: Session, *, actor: Actor, now: datetime, limit: int = 10,
                 visible=None) -> list[OrderLine]:
    """Open, not yet delivered orders whose planned delivery has passed; the longest overdue first."""
    visible = visible if visible is not None else visible_clause(session, actor)
    today = _today(session, now)
    rows = session.exec(
        select(Order).where(visible, overdue_clause(today)).order_by(Order.planned_delivery, Order.id).limit(limit)
    ).scalars().all()
    return _lines(session, rows, today)


def risk_clause():
    # tags and flags are a short JSON list; '[]' / 'null' text means none on both databases
    return func.coalesce(cast(Order.risk_flags, Text), "[]").not_in(["[]", "null"])


def count_risk_flagged(session: Session, *, actor: Actor, visible=None) -> int:
    visible = visible if visible is not None else visible_clause(session, actor)
    return int(session.exec(select(func.count()).select_from(Order)
                            .where(visible, Order.status == "open", risk_clause())).scalar_one())


def list_risk_flagged(session: Session, *, actor: Actor, now: datetime, limit: int = 10,
                      visible=None) -> list[OrderLine]:
    """Open orders carrying a risk flag, the most recently changed first."""
    visible = visible if visible is not None else visible_clause(session, actor)
    rows = session.exec(
        select(Order).where(visible, Order.status == "open", risk_clause())
        .order_by(Order.updated_at.desc(), Order.id.desc()).limit(limit)
    ).scalars().all()
    return _lines(session, rows, _today(session, now))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def created_per_week(session: Session, *, actor: Actor, now: datetime, weeks: int = 12,
                     visible=None) -> list[WeekCount]:
    """Orders created in each of the last `weeks` weeks (Monday to Sunday on the installation's wall
    clock: an order of Monday 01:00 in Shanghai is this week's, though it is Sunday in UTC), oldest
    first, the current week included. One query: a conditional count per week, so empty weeks show 0."""
    if weeks < 1:
        return []
    zone = get_installation(session).zone
    first = week_start(now.astimezone(zone).date()) - timedelta(weeks=weeks - 1)
    bounds = [datetime.combine(first + timedelta(weeks=i), datetime.min.time(), tzinfo=zone).astimezone(UTC)
              for i in range(weeks + 1)]
    visible = visible if visible is not None else visible_clause(session, actor)
    columns = [
        func.coalesce(func.sum(case(((Order.created_at >= bounds[i]) & (Order.created_at < bounds[i + 1]), 1),
                                    else_=0)), 0)
        for i in range(weeks)
    ]
    row = session.exec(
        select(*columns).where(visible, Order.created_at >= bounds[0], Order.created_at < bounds[-1])
    ).one()
    return [WeekCount(first + timedelta(weeks=i), int(row[i])) for i in range(weeks)]


def _lines(session: Session, rows: list[Order], today: date) -> list[OrderLine]:
    if not rows:
        return []
    customers = dict(session.exec(select(Customer.id, Customer.name)
                                  .where(Customer.id.in_({o.customer_id for o in rows}))).all())
    owners = dict(session.exec(select(User.id, User.display_name)
                               .where(User.id.in_({o.owner_id for o in rows}))).all())
    return [
        OrderLine(id=o.id, number=o.number, customer_name=customers.get(o.customer_id),
                  owner_name=owners.get(o.owner_id), stage=o.stage, planned_delivery=o.planned_delivery,
                  days_overdue=(today - o.planned_delivery).days if o.planned_delivery and o.planned_delivery < today
                  else None,
                  risk_flags=list(o.risk_flags or []))
        for o in rows
    ]
