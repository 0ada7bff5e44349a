"""Customers and orders for tests: make_order(session, owner=..., stage="approval", **overrides)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from backend.customers.models import Customer
from backend.foresight.models import PREDICTIONS, ForesightScore
from backend.orders.models import Order
from backend.people.models import User

_seq = itertools.count(1)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def make_customer(session: Session, *, name: str | None = None, **overrides) -> Customer:
    n = next(_seq)
    fields = {"code": f"C{n:05d}", "email": f"buyer{n}@example.com", "created_at": T0, **overrides}
    customer = Customer(name=name or f"Customer {n}", **fields)
    session.add(customer)
    session.flush()
    return customer


def make_order(session: Session, *, owner: User, customer: Customer | None = None, stage: str = "draft",
               amount: Decimal | int | str = "1000.00", at: datetime = T0, **overrides) -> Order:
    n = next(_seq)
    customer = customer or make_customer(session)
    predicted = {name: overrides.pop(name) for name in PREDICTIONS if name in overrides}
    overrides.setdefault("delivered_at", overrides.get("signed_at"))  # as the pipeline keeps it
    order = Order(number=overrides.pop("number", f"T{n:06d}"), customer_id=customer.id, owner_id=owner.id,
                  amount=Decimal(str(amount)), stage=stage, stage_entered_at=overrides.pop("stage_entered_at", at),
                  created_at=at, updated_at=at, **overrides)
    session.add(order)
    session.flush()
    if predicted:
        set_prediction(session, order, scored_at=at, **predicted)
    return order


def set_prediction(session: Session, order: Order, *, scored_at: datetime = T0, **values) -> None:
    """Store the order's prediction (foresight_score, where it lives since predtable_0001) as the
    scoring job would, and show it on the loaded order."""
    from backend.foresight.batch import upsert

    unknown = set(values) - set(PREDICTIONS)
    assert not unknown, unknown
    current = session.get(ForesightScore, order.id)
    row = {"order_id": order.id, "basis": "model", "model_id": None, "stage_done_p90_at": None,
           "completion_p90_at": None, "reasons": None, "scored_at": scored_at,
           **{name: getattr(current, name) if current is not None else None for name in PREDICTIONS}, **values}
    if current is not None:
        session.expunge(current)
    upsert(session, [row])
    for name in PREDICTIONS:
        set_committed_value(order, name, row[name])
