"""Patterned closed-order histories for Foresight tests: a slow customer, a seasonal peak.

Deterministic (a seeded random.Random). Customer "Slowco" stays three times longer in production;
orders entering production in November take twice as long; planned delivery is set from the typical
path plus a little slack, so slow orders are late.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from engine.foresight.history import OrderHistory

STAGES = (("draft", 6), ("approval", 12), ("tech_confirm", 24), ("production", 72), ("shipping", 36))
CUSTOMERS = ("Acme", "Beta", "Gamma", "Delta", "Slowco")


def history(count: int, *, seed: int = 1, start: datetime = datetime(2026, 1, 5, tzinfo=UTC),
            late_free: bool = False) -> list[OrderHistory]:
    rng = random.Random(seed)
    out: list[OrderHistory] = []
    for i in range(count):
        created = start + timedelta(hours=7 * i)
        customer = CUSTOMERS[i % len(CUSTOMERS)]
        at = created
        trace = []
        for stage, hours in STAGES:
            trace.append((stage, at))
            factor = rng.lognormvariate(0, 0.35)
            if stage == "production" and customer == "Slowco":
                factor *= 3
            if stage == "production" and at.month == 11:
                factor *= 2
            at = at + timedelta(hours=hours * factor)
        trace.append(("delivered", at))
        trace.append(("completed", at + timedelta(hours=48)))
        planned = (created + timedelta(hours=sum(h for _, h in STAGES) * (5 if late_free else 1.25))).date()
        out.append(OrderHistory(order_id=i + 1, status="completed", trace=tuple(trace), planned_delivery=planned,
                                features={"customer": customer, "owner": f"rep{i % 3}", "amount": 1000 + 37 * i}))
    return out


def store(session, histories: list[OrderHistory], *, owner_id: int, customer_ids: dict[str, int],
          prefix: str = "FH") -> None:
    """Write closed orders and their stage events with two bulk inserts (a backend test's history)."""
    from decimal import Decimal

    from sqlalchemy import insert

    from backend.orders.models import Order, OrderEvent

    table = Order.__table__
    rows = []
    for h in histories:
        first_at, last = h.trace[0][1], h.trace[-1]
        rows.append({"number": f"{prefix}{h.order_id:06d}", "customer_id": customer_ids[h.features["customer"]],
                     "owner_id": owner_id, "amount": Decimal(str(h.features.get("amount") or 1000)),
                     "currency": "CNY", "stage": last[0], "status": "completed", "stage_entered_at": last[1],
                     "planned_delivery": h.planned_delivery, "source": "manual", "data": {}, "tags": [],
                     "risk_flags": [], "urge_count": 0, "version": 1, "created_at": first_at, "updated_at": last[1],
                     "closed_at": last[1]})
    ids = list(session.connection().execute(insert(table).returning(table.c.id, table.c.number), rows))
    by_number = {number: oid for oid, number in ids}
    events = []
    for h in histories:
        oid = by_number[f"{prefix}{h.order_id:06d}"]
        prev = None
        for stage, at in h.trace:
            events.append({"order_id": oid, "type": "created" if prev is None else "stage_entered", "at": at,
                           "before": None if prev is None else {"stage": prev}, "after": {"stage": stage}})
            prev = stage
    session.connection().execute(insert(OrderEvent.__table__), events)
