"""The worker jobs `order_scores.changed` (what changed) and `order_scores` (a rare full reconciliation):
refresh the stored scores of open orders (engine/facts/scores.py).

Change-driven: the pipeline stage `order_scores` marks what a change touches (on_change.py); every
10 s `refresh_changed` recomputes the open orders of the marked orders / customers / suppliers /
carriers only. The full refresh below runs every 6 hours to catch what time alone moves (the
365-day window of closed samples, silence, urges ageing out).

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
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm.attributes import set_committed_value

from backend.customers.models import Customer
from backend.db import IMMEDIATE
from backend.foresight.models import ForesightScore
from backend.logistics.models import Shipment
from backend.orders.models import Order, OrderEvent
from backend.scores.models import OrderScoreMark
from backend.worker import lease as leases
from engine.facts import scores, scores_sql

log = logging.getLogger("gendan.scores")

ORDERS = Order.__table__
SHIPMENTS = Shipment.__table__
CUSTOMERS = Customer.__table__
EVENTS = OrderEvent.__table__
LEASE = "order_scores"
#: the full refresh is a reconciliation now: changes are followed by `refresh_changed` (on_change.py)
EVERY_SECONDS = 6 * 3600
CHANGED_EVERY_SECONDS = 10
DRAIN = 5_000  # marks per drain
MARKS = OrderScoreMark.__table__
#: days from today whose planned deliveries cross an urgency band at midnight (UTC):
#: overdue since yesterday, and 3 / 7 / 14 days left (engine/facts/scores.py:URGENCY)
URGENCY_EDGES = (-1, *(bound for bound, _points in scores.URGENCY))
_last_day: list[Any] = [None]  # the UTC day the urgency edges were last refreshed in this process


SCORES = ("customer_on_time_rate", "supplier_on_time_rate", "carrier_on_time_rate", "priority_score",
          "churn_signals")


def _update(conn: Connection, now: datetime, only: Any = None) -> int:
    fresh = scores_sql.order_scores_select(ORDERS, SHIPMENTS, CUSTOMERS, EVENTS, now, only,
                                           ForesightScore.__table__).subquery("fresh")
    stmt = (update(ORDERS).where(ORDERS.c.id == fresh.c.id,
                                 or_(*(ORDERS.c[name].is_distinct_from(fresh.c[name]) for name in SCORES)))
            .values({name: fresh.c[name] for name in SCORES}))
    return conn.execute(stmt).rowcount or 0


def refresh(conn: Connection, now: datetime) -> int:
    """Recompute every open order's stored scores in one UPDATE ... FROM (only rows whose values
    differ are written), then zero the priority of closed orders; how many rows changed."""
    changed = _update(conn, now)
    changed += conn.execute(update(ORDERS).where(ORDERS.c.status != "open", ORDERS.c.priority_score != 0)
                            .values(priority_score=0)).rowcount or 0
    return changed


def refresh_scores(engine: Engine, now: datetime) -> int:
    """The worker job: refresh under the lease (another process refreshing: skip this round)."""
    held = leases.acquire(engine, LEASE, timedelta(minutes=15))
    if held is None:
        return 0
    try:
        with engine.execution_options(**IMMEDIATE).begin() as conn:  # SQLite: writes, so it takes the lock at BEGIN
            return refresh(conn, now)
    finally:
        leases.release(engine, held)


def refresh_changed(conn: Connection, now: datetime, *, limit: int = DRAIN) -> int:
    """Drain up to `limit` change marks (backend/scores/on_change.py): recompute the open orders of
    the marked orders, customers, suppliers and carriers in one UPDATE ... FROM (groups computed for
    those only), zero the priority of marked orders that closed; on a new UTC day also the orders
    whose planned delivery crossed an urgency band. How many rows changed."""
    marks = conn.execute(select(MARKS.c.id, MARKS.c.kind, MARKS.c.key).order_by(MARKS.c.id).limit(limit)).all()
    keys: dict[str, set[str]] = {"order": set(), "customer": set(), "supplier": set(), "carrier": set(),
                                 "shipment_of": set()}
    for _id, kind, key in marks:
        keys.setdefault(kind, set()).add(key)
    ids = sorted({int(k) for k in keys["order"] if k.isdigit()})
    customers = sorted({int(k) for k in keys["customer"] if k.isdigit()})
    shipped = sorted({int(k) for k in keys["shipment_of"] if k.isdigit()})
    carriers = set(keys["carrier"])
    if shipped:
        latest = scores_sql.carrier_sql(ORDERS, SHIPMENTS)
        carriers |= {c for c in conn.execute(select(latest).where(ORDERS.c.id.in_(shipped))).scalars() if c}
    today = now.date()
    edges = [today + timedelta(days=d) for d in URGENCY_EDGES] if _last_day[0] != today else []

    def only(a: Any) -> Any:
        clauses = []
        if ids:
            clauses.append(a.c.id.in_(ids))
        if customers:
            clauses.append(a.c.customer_id.in_(customers))
        if keys["supplier"]:  # through the expression index (mendsb_0001), see supplier_narrow
            clauses.append(scores_sql.supplier_narrow(a, sorted(keys["supplier"])))
        if carriers:
            clauses.append(scores_sql.carrier_sql(a, SHIPMENTS).in_(sorted(carriers)))
        if edges:
            clauses.append(a.c.planned_delivery.in_(edges))
        return or_(*clauses)

    changed = 0
    if ids or customers or keys["supplier"] or carriers or edges:
        changed = _update(conn, now, only)
    if ids:
        changed += conn.execute(update(ORDERS).where(ORDERS.c.id.in_(ids), ORDERS.c.status != "open",
                                                     ORDERS.c.priority_score != 0).values(priority_score=0)).rowcount or 0
    if marks:
        conn.execute(delete(MARKS).where(MARKS.c.id.in_([m[0] for m in marks])))
    if edges:
        _last_day[0] = today
    return changed


def refresh_changed_scores(engine: Engine, now: datetime) -> int:
    """The worker job `order_scores.changed`: drain the marks under the lease (shared with the full
    refresh, so the two never run at once)."""
    held = leases.acquire(engine, LEASE, timedelta(minutes=15))
    if held is None:
        return 0
    try:
        with engine.execution_options(**IMMEDIATE).begin() as conn:  # SQLite: writes, so it takes the lock at BEGIN
            return refresh_changed(conn, now)
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
        "priority_score": scores.priority_score(mine, tier, now, order.delay_probability),
    }
    session.execute(update(ORDERS).where(ORDERS.c.id == order.id).values(values)
                    .execution_options(synchronize_session=False))
    for name, value in values.items():
        set_committed_value(order, name, value)
