"""Read closed orders' histories and open orders for engine/foresight, batch by batch.

Traces come from the event log exactly as the process map reads them
(backend/insight/process_map.py:order_traces). Features: the customer's name and region, the owner's
name, a designed `category` (or `product_category` / `product`) field, the designed text field
`supplier` (the same as the supplier on-time rate, docs/decisions-auto.md), the amount.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from backend.clock import as_utc
from backend.customers.models import Customer
from backend.foresight.models import ForesightScore
from backend.insight.process_map import order_traces
from backend.orders.models import Order
from backend.people.models import User
from engine.foresight import OpenOrder, OrderHistory

MAX_HISTORY = 50_000  # the newest closed orders a model learns from
BATCH = 2_000
_CATEGORY_KEYS = ("category", "product_category", "product")


def _features(customer: str | None, region: str | None, owner: str | None, data: Any, amount: Any) -> dict[str, Any]:
    category = supplier = None
    if isinstance(data, dict):
        for key in _CATEGORY_KEYS:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                category = str(value)[:80]
                break
        value = data.get("supplier")
        if isinstance(value, str) and value.strip():
            supplier = value.strip()[:80]
    return {"customer": customer, "region": region, "owner": owner, "category": category, "supplier": supplier,
            "amount": float(amount) if amount is not None else None}


def _rows(session: Session, stmt: Any) -> list[Any]:
    return list(session.connection().execute(stmt).all())


def _base_select() -> Any:
    return (select(Order.id, Order.status, Order.stage, Order.stage_entered_at, Order.planned_delivery, Order.data,
                   Order.amount, Customer.name, Customer.region, User.display_name)
            .join(Customer, Customer.id == Order.customer_id)
            .join(User, User.id == Order.owner_id))


def closed_histories(session: Session, *, limit: int = MAX_HISTORY) -> list[OrderHistory]:
    ids = list(session.connection().execute(
        select(Order.id).where(Order.status != "open").order_by(Order.id.desc()).limit(limit)).scalars())
    ids.sort()
    out: list[OrderHistory] = []
    for i in range(0, len(ids), BATCH):
        batch = ids[i:i + BATCH]
        info = {row[0]: row for row in _rows(session, _base_select().where(Order.id.in_(batch)))}
        for order_id, trace in order_traces(session, batch):
            row = info.get(order_id)
            if row is None or not trace:
                continue
            _id, status, _stage, _entered, planned, data, amount, customer, region, owner = row
            out.append(OrderHistory(order_id, status, tuple((s, as_utc(at)) for s, at in trace),
                                    _as_date(planned), _features(customer, region, owner, data, amount)))
    return out


def open_orders(session: Session, *, after_id: int = 0, batch: int = BATCH,
                stale: tuple[datetime, int | None] | None = None) -> list[OpenOrder]:
    """The next `batch` open orders with an id above `after_id`, in id order. With `stale` =
    (scored before, live model id): only those never scored, scored before that moment, or scored
    by another model (an order's change re-scores it at once: backend/foresight/on_change.py)."""
    query = _base_select().where(Order.status == "open", Order.id > after_id)
    if stale is not None:
        before, model_id = stale
        query = query.outerjoin(ForesightScore, ForesightScore.order_id == Order.id).where(or_(
            ForesightScore.order_id.is_(None), ForesightScore.scored_at < before,
            ForesightScore.model_id.is_distinct_from(model_id)))
    return _open(_rows(session, query.order_by(Order.id).limit(batch)))


def open_orders_by_id(session: Session, ids: list[int]) -> list[OpenOrder]:
    """The open orders among `ids` (at most BATCH of them), in id order."""
    return _open(_rows(session, _base_select().where(Order.status == "open", Order.id.in_(ids[:BATCH]))
                       .order_by(Order.id)))


def _open(rows: list[Any]) -> list[OpenOrder]:
    return [OpenOrder(order_id, stage, as_utc(entered), _as_date(planned),
                      _features(customer, region, owner, data, amount))
            for order_id, _status, stage, entered, planned, data, amount, customer, region, owner in rows]


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value if type(value) is date else value.date()
