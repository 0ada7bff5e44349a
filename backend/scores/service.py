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

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm.attributes import set_committed_value

from backend.customers.models import Customer
from backend.logistics.models import Shipment
from backend.orders.models import Order, OrderEvent
from backend.worker import lease as leases
from engine.facts import scores, scores_sql

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


MAX_CUSTOMER_ORDERS = 5_000


def fill_new(session, order: Order, now: datetime) -> None:
    """A new open order has no stored scores until the next refresh, yet its flow's first approval
    may read them at once: compute the customer's on-time rate, churn signals and the priority
    (Python rendering, over the customer's orders by index) and store them without touching the
    order's version. Open orders already scored (priority ≥ 5) are left alone; supplier and carrier
    rates wait for the refresh."""
    if order.id is None or order.status != "open" or order.priority_score:
        return
    rows = [dict(r._mapping) for r in session.exec(
        select(ORDERS).where(ORDERS.c.customer_id == order.customer_id)
        .order_by(ORDERS.c.id.desc()).limit(MAX_CUSTOMER_ORDERS))]
    urges = [(order.customer_id, at) for (at,) in session.exec(
        select(EVENTS.c.at).join(ORDERS, ORDERS.c.id == EVENTS.c.order_id)
        .where(ORDERS.c.customer_id == order.customer_id, EVENTS.c.type.in_(scores.URGE_EVENTS),
               EVENTS.c.at > now - timedelta(days=scores.URGE_DAYS)))]
    tier = session.exec(select(CUSTOMERS.c.tier).where(CUSTOMERS.c.id == order.customer_id)).scalar_one_or_none()
    mine = {c.key: getattr(order, c.key) for c in ORDERS.columns}
    values = {
        "customer_on_time_rate": scores.on_time_rates(rows, "customer_id", now).get(order.customer_id),
        "churn_signals": scores.churn_signals(scores.customer_signals(rows or [mine], urges, now).get(order.customer_id)),
        "priority_score": scores.priority_score(mine, tier, now, mine.get("delay_probability")),
    }
    session.execute(update(ORDERS).where(ORDERS.c.id == order.id).values(values)
                    .execution_options(synchronize_session=False))
    for name, value in values.items():
        set_committed_value(order, name, value)
