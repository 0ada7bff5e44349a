"""The stored scores follow changes instead of the clock (the pipeline stage `order_scores`).

Why: the job `order_scores` recomputed every open order every 10 minutes — a million-order book
grouped and joined again and again to find the few rows that moved. Now a change marks what its
inputs touch, in the change's own transaction (`order_score_mark` rows):

- the order itself, when a score input of it changes (amount, planned delivery, risk flags,
  status, customer, designed fields, closing and signing times); its priority is recomputed at once
  (Python rendering, engine/facts/scores.py), its rates by the drain;
- its customer, supplier and carrier, when the order is or was closed and a closed-sample input
  changed (their on-time rates move) — old and new values both, when the customer or a designed
  field changed; its customer also when urges, the last contact or a new order move the churn
  signals.

The worker job `order_scores.changed` (every 10 s, under the `order_scores` lease) drains the marks:
one set-based UPDATE ... FROM over the open orders of the marked orders, customers, suppliers and
carriers, groups computed only for those (backend/scores/service.py:refresh_changed). The full
refresh stays as a rare reconciliation (time alone moves the 365-day window, silence and urges).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from backend.bulk_insert import insert_rows
from backend.customers.models import Customer
from backend.orders.models import Order, column_values, load_predictions
from backend.pipeline import OrderChange
from backend.scores.models import OrderScoreMark
from engine.facts import scores

#: inputs of the order's own scores
ORDER_INPUTS = frozenset({"amount", "planned_delivery", "risk_flags", "status", "customer_id", "data",
                          "closed_at", "signed_at"})
#: inputs of the priority (recomputed at once)
PRIORITY_INPUTS = frozenset({"amount", "planned_delivery", "risk_flags", "status", "customer_id"})
#: inputs of a closed sample (the on-time rates of the order's customer, supplier, carrier)
SAMPLE_INPUTS = frozenset({"status", "closed_at", "signed_at", "planned_delivery", "customer_id", "data"})
#: inputs of the customer's churn signals
CHURN_INPUTS = frozenset({"urge_count", "last_customer_contact_at"})


def _supplier(data: Any) -> str | None:
    value = data.get("supplier") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value != "" else None


def _carrier(data: Any) -> str | None:
    value = data.get("carrier") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value != "" else None


def marks_of(change: OrderChange) -> set[tuple[str, str]]:
    """(kind, key) marks a change makes (see the module doc)."""
    order, before = change.order, change.before or {}
    changed = change.changed_fields
    out: set[tuple[str, str]] = set()
    if change.is_new:
        return new_order_marks(order)
    if changed & ORDER_INPUTS:
        out.add(("order", str(order.id)))
    if changed & CHURN_INPUTS:
        out.add(("customer", str(order.customer_id)))
    was_closed = before.get("status", order.status) != "open"
    if changed & SAMPLE_INPUTS and (order.status != "open" or was_closed):
        for customer_id in {before.get("customer_id", order.customer_id), order.customer_id}:
            if customer_id is not None:
                out.add(("customer", str(customer_id)))
        for data in (before.get("data", order.data), order.data):
            if (supplier := _supplier(data)) is not None:
                out.add(("supplier", supplier))
            if (carrier := _carrier(data)) is not None:
                out.add(("carrier", carrier))
        # the latest shipment's carrier counts before the designed field: the drain reads it
        out.add(("shipment_of", str(order.id)))
    return out


def new_order_marks(order: Order) -> set[tuple[str, str]]:
    """A new order marks its customer only: the customer's mark makes the drain recompute every
    open order of that customer (the new one included: all its stored scores, supplier and carrier
    rates too) and its silence (the newest order's creation). An order mark would add only the
    "closed since: priority 0" step, and a new order has priority 0 until it is scored. So one
    mark per customer, not per order: a bulk batch of 5,000 new orders of 500 customers writes 500
    marks, not 5,500 (issue 13), and the drain reads 500 keys."""
    if order.customer_id is None:  # pragma: no cover - customer_id is required
        return {("order", str(order.id))}
    return {("customer", str(order.customer_id))}


def mark(session: Session, marks: Iterable[tuple[str, str]], now: datetime) -> None:
    rows = [{"kind": kind, "key": key[:200], "created_at": now} for kind, key in sorted(set(marks))]
    if rows:
        session.connection().execute(insert(OrderScoreMark), rows)


def _priorities_now(session: Session, orders: list[Order], now: datetime) -> None:
    """The orders' priorities recomputed and stored: one read of their customers' tiers, one
    UPDATE for those that moved (a burst of firings flags thousands of orders in one chunk)."""
    customer_ids = sorted({o.customer_id for o in orders if o.customer_id is not None})
    tiers = dict(session.connection().execute(select(Customer.id, Customer.tier)
                                              .where(Customer.id.in_(customer_ids))).all()) if customer_ids else {}
    moved: dict[int, tuple[Order, int]] = {}
    load_predictions(session, orders)
    for order in orders:
        mine = column_values(order)
        priority = scores.priority_score(mine, tiers.get(order.customer_id), now, order.delay_probability)
        if priority != order.priority_score:
            moved[order.id] = (order, priority)
    if not moved:
        return
    table = Order.__table__
    if len(moved) == 1:
        ((order_id, (_, priority)),) = moved.items()
        session.connection().execute(update(table).where(table.c.id == order_id).values(priority_score=priority))
    elif session.get_bind().dialect.name == "postgresql":
        rows = json.dumps([{"id": order_id, "p": priority} for order_id, (_, priority) in sorted(moved.items())])
        session.connection().execute(text(
            "UPDATE sales_order SET priority_score = x.p FROM json_to_recordset(CAST(:rows AS json)) "
            "AS x(id integer, p integer) WHERE sales_order.id = x.id"), {"rows": rows})
    else:  # SQLite: an executemany in-process costs a statement's binding per row, no round trips
        session.connection().execute(update(table).where(table.c.id == bindparam("oid"))
                                     .values(priority_score=bindparam("p")),
                                     [{"oid": order_id, "p": priority} for order_id, (_, priority) in moved.items()])
    for order, priority in moved.values():
        set_committed_value(order, "priority_score", priority)


def on_order_change(session: Session, change: OrderChange) -> None:
    """The pipeline stage: mark what the change touches; the order's priority at once."""
    if change.order.id is None:
        return
    mark(session, marks_of(change), change.now)
    if not change.is_new and change.changed_fields & PRIORITY_INPUTS:
        _priorities_now(session, [change.order], change.now)


def on_order_changes(session: Session, changes: list[OrderChange]) -> None:
    """The same for many changes at once (the bulk import's new orders, a chunk of firings that
    changed orders): their marks in one COPY, finished by the bulk path's writer thread on
    PostgreSQL (backend/bulk_insert.py) while the batch goes on; the changed orders' priorities in
    one read and one UPDATE."""
    if not changes:
        return
    marks: set[tuple[str, str]] = set()
    for change in changes:
        if change.order.id is None:
            continue
        if change.is_new:  # the common case (a bulk batch's new orders): their customers' marks
            marks.add(("customer", str(change.order.customer_id)))
        else:
            marks |= marks_of(change)
    now = changes[0].now
    insert_rows(session, OrderScoreMark.__table__,
                [{"kind": kind, "key": key[:200], "created_at": now} for kind, key in sorted(marks)], background=True)
    moved = [c.order for c in changes
             if not c.is_new and c.order.id is not None and c.changed_fields & PRIORITY_INPUTS]
    if moved:
        _priorities_now(session, moved, now)
