"""Orders with a stage history in the event log: travel(session, owner=..., stages_hours=[("draft", 0), ...])."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from backend.customers.models import Customer
from backend.orders.models import Order, OrderEvent
from backend.people.models import User
from engine.reports.reached import first_delivered, stages_mask
from tests.factories.orders import T0, make_order


def travel(session: Session, *, owner: User, stages_hours: list[tuple[str, float]], customer: Customer | None = None,
           created: datetime = T0, event_type: str = "stage_entered", **overrides) -> Order:
    """An order created in the first stage at `created`, then entering each next stage the given hours
    after the previous one (plus an unrelated `urged` event at each step, which the map must ignore)."""
    first, *rest = stages_hours
    order = make_order(session, owner=owner, customer=customer, stage=first[0], at=created, **overrides)
    session.add(OrderEvent(order_id=order.id, type="created", at=created, before=None,
                           after={"stage": first[0], "status": "open"}))
    prev, at = first[0], created
    for stage, hours in rest:
        at = at + timedelta(hours=hours)
        session.add(OrderEvent(order_id=order.id, type=event_type, at=at, before={"stage": prev},
                               after={"stage": stage}))
        session.add(OrderEvent(order_id=order.id, type="urged", at=at, before=None, after={"urge_count": 1}))
        prev = stage
    order.stage, order.stage_entered_at = prev, at
    # what the pipeline keeps on the row as the order moves (engine/reports/reached.py)
    moves = [(created, first[0])] + [(created + timedelta(hours=sum(h for _, h in rest[:i + 1])), stage)
                                     for i, (stage, _) in enumerate(rest)]
    order.stages_entered = stages_mask(stage for _, stage in moves)
    order.delivered_at = order.signed_at or first_delivered(moves)
    session.flush()
    return order


def reached_by_events(session: Session) -> dict[int, tuple[datetime | None, int]]:
    """Every order's `delivered_at` and `stages_entered` as its event log and signature say
    (engine/reports/reached.py), worked out in Python: what the stored columns must hold."""
    from sqlalchemy import select

    from engine.facts.catalogue import as_utc

    moves: dict[int, list[tuple[datetime, str | None]]] = {}
    for order_id, at, after in session.execute(select(OrderEvent.order_id, OrderEvent.at, OrderEvent.after)):
        moves.setdefault(order_id, []).append((as_utc(at), (after or {}).get("stage")))
    out = {}
    for order_id, signed_at in session.execute(select(Order.id, Order.signed_at)):
        mine = moves.get(order_id, [])
        out[order_id] = (as_utc(signed_at) if signed_at else first_delivered(mine), stages_mask(s for _, s in mine))
    return out


def reached_stored(session: Session) -> dict[int, tuple[datetime | None, int]]:
    from sqlalchemy import select

    from engine.facts.catalogue import as_utc

    return {i: (as_utc(d) if d else None, m)
            for i, d, m in session.execute(select(Order.id, Order.delivered_at, Order.stages_entered))}
