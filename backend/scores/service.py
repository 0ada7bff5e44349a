"""The worker job `order_scores`: refresh the stored scores of open orders (engine/facts/scores.py).

Set-based (engine/facts/scores_sql.py): one UPDATE ... FROM a select that groups the closed samples
per customer / supplier / carrier and the churn inputs per customer, joined to every open order;
only rows whose values differ are written (each at most once).
Only open orders are refreshed: a closed order keeps the scores it had when it closed (the
back-test reads them as "the facts as they were then"). Safe in several processes: a lease makes
one refresher run at a time, and the result does not depend on who runs it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Connection, Engine

from backend.customers.models import Customer
from backend.logistics.models import Shipment
from backend.orders.models import Order, OrderEvent
from backend.worker import lease as leases
from engine.facts import scores_sql

log = logging.getLogger("gendan.scores")

ORDERS = Order.__table__
SHIPMENTS = Shipment.__table__
CUSTOMERS = Customer.__table__
EVENTS = OrderEvent.__table__
LEASE = "order_scores"
EVERY_SECONDS = 600


SCORES = ("customer_on_time_rate", "supplier_on_time_rate", "carrier_on_time_rate", "priority_score",
          "churn_signals")


def refresh(conn: Connection, now: datetime) -> int:
    """Recompute every open order's stored scores in one UPDATE ... FROM (only rows whose values
    differ are written), then zero the priority of closed orders; how many rows changed."""
    fresh = scores_sql.order_scores_select(ORDERS, SHIPMENTS, CUSTOMERS, EVENTS, now).subquery("fresh")
    stmt = (update(ORDERS).where(ORDERS.c.id == fresh.c.id,
                                 or_(*(ORDERS.c[name].is_distinct_from(fresh.c[name]) for name in SCORES)))
            .values({name: fresh.c[name] for name in SCORES}))
    changed = conn.execute(stmt).rowcount or 0
    changed += conn.execute(update(ORDERS).where(ORDERS.c.status != "open", ORDERS.c.priority_score != 0)
                            .values(priority_score=0)).rowcount or 0
    return changed


def refresh_scores(engine: Engine, now: datetime) -> int:
    """The worker job: refresh under the lease (another process refreshing: skip this round)."""
    held = leases.acquire(engine, LEASE, timedelta(minutes=15))
    if held is None:
        return 0
    try:
        with engine.begin() as conn:
            return refresh(conn, now)
    finally:
        leases.release(engine, held)
