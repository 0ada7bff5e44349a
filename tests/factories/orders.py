"""Customers and orders for tests: make_order(session, owner=..., stage="approval", **overrides)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session

from backend.customers.models import Customer
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
    overrides.setdefault("delivered_at", overrides.get("signed_at"))  # as the pipeline keeps it
    order = Order(number=overrides.pop("number", f"T{n:06d}"), customer_id=customer.id, owner_id=owner.id,
                  amount=Decimal(str(amount)), stage=stage, stage_entered_at=overrides.pop("stage_entered_at", at),
                  created_at=at, updated_at=at, **overrides)
    session.add(order)
    session.flush()
    return order
