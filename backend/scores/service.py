"""The worker job `order_scores`: refresh the stored scores of open orders (engine/facts/scores.py).

Set-based (engine/facts/scores_sql.py): one grouped query per kind of rate, one for churn inputs,
one UPDATE for priorities, then one UPDATE per customer / supplier / carrier whose value changed.
Only open orders are refreshed: a closed order keeps the scores it had when it closed (the
back-test reads them as "the facts as they were then"). Safe in several processes: a lease makes
one refresher run at a time, and the result does not depend on who runs it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
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


def _set_rates(conn: Connection, column: str, group_expr, now: datetime) -> int:
    """Store each group's rate on its open orders; open orders of groups without samples: NULL."""
    rows = conn.execute(scores_sql.group_rates(ORDERS, group_expr, now)).all()
    target = ORDERS.c[column]
    changed = 0
    params = [{"grp": grp, "rate": scores_sql.rate_of(n, on_time)} for grp, n, on_time in rows]
    if params:
        stmt = (update(ORDERS).where(ORDERS.c.status == "open", group_expr == bindparam("grp"),
                                     or_(target.is_(None), target != bindparam("rate")))
                .values({column: bindparam("rate")}))
        changed += max(0, conn.execute(stmt, params).rowcount or 0)
    sampled = scores_sql.group_rates(ORDERS, group_expr, now).with_only_columns(group_expr)
    stale = and_(ORDERS.c.status == "open", target.is_not(None),
                 or_(group_expr.is_(None), ~group_expr.in_(sampled)))
    changed += conn.execute(update(ORDERS).where(stale).values({column: None})).rowcount or 0
    return changed


def refresh(conn: Connection, now: datetime) -> int:
    """Recompute every open order's stored scores; how many order rows changed."""
    changed = 0
    changed += _set_rates(conn, "customer_on_time_rate", ORDERS.c.customer_id, now)
    changed += _set_rates(conn, "supplier_on_time_rate", scores_sql.supplier_sql(ORDERS), now)
    changed += _set_rates(conn, "carrier_on_time_rate", scores_sql.carrier_sql(ORDERS, SHIPMENTS), now)
    tier = select(CUSTOMERS.c.tier).where(CUSTOMERS.c.id == ORDERS.c.customer_id).scalar_subquery()
    priority = scores_sql.priority_sql(ORDERS, tier, now.date())
    changed += conn.execute(update(ORDERS).where(ORDERS.c.status == "open", ORDERS.c.priority_score != priority)
                            .values(priority_score=priority)).rowcount or 0
    changed += conn.execute(update(ORDERS).where(ORDERS.c.status != "open", ORDERS.c.priority_score != 0)
                            .values(priority_score=0)).rowcount or 0
    urges = dict(conn.execute(scores_sql.urges_by_customer(ORDERS, EVENTS, now)).all())
    params = [{"cid": cid, "n": scores_sql.churn_from(urges.get(cid, 0), silent, late)}
              for cid, silent, late in conn.execute(scores_sql.contacts_by_customer(ORDERS, now)).all()]
    if params:
        stmt = (update(ORDERS).where(ORDERS.c.status == "open", ORDERS.c.customer_id == bindparam("cid"),
                                     ORDERS.c.churn_signals != bindparam("n"))
                .values(churn_signals=bindparam("n")))
        changed += max(0, conn.execute(stmt, params).rowcount or 0)
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
