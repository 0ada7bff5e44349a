"""The SQL rendering of the stored scores (engine/facts/scores.py defines them).

Set-based, on SQLite and PostgreSQL: one SELECT (`order_scores_select`) groups the closed samples
per customer / supplier / carrier and the churn inputs per customer once, and joins them to every
open order with its priority; the worker job `order_scores` writes it with one UPDATE ... FROM. The
engine knows no backend model: the caller passes the tables (`sales_order`, `shipment`,
`customer`, `order_event`). Tests hold every figure equal to the Python rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from engine.facts.catalogue import FactType, epoch_seconds
from engine.facts.dialect import dialect_function
from engine.facts.scores import (
    LATE_SIGNAL,
    RISK_CAP,
    RISK_PER_FLAG,
    SILENCE_DAYS,
    TIER_POINTS,
    URGE_DAYS,
    URGE_EVENTS,
    URGE_SIGNAL,
    URGENCY,
    URGENCY_OVERDUE,
    VALUE_BANDS,
    VALUE_FLOOR,
    WINDOW_DAYS,
    horizon,
)
from engine.facts.sql import DataText, EpochSeconds, InSelect, JsonValue, ToFloat

__all__ = ["carrier_sql", "closed_samples", "contacts_by_customer", "order_scores_select",
           "priority_sql", "supplier_narrow", "supplier_sql", "urges_by_customer"]

DateEpoch = dialect_function(
    "DateEpoch", BigInteger(),
    doc="Seconds since 1970 of a date column's midnight UTC.",
    default="CAST(strftime('%s', {0}) AS INTEGER)",
    postgresql="CAST(EXTRACT(EPOCH FROM CAST({0} AS TIMESTAMP)) AS BIGINT)",
)
JsonLength = dialect_function(
    "JsonLength", Integer(),
    doc="Length of a JSON array column (0 when it is not an array).",
    default="(CASE WHEN json_type({0}) = 'array' THEN json_array_length({0}) ELSE 0 END)",
    postgresql="(CASE WHEN jsonb_typeof(CAST({0} AS JSONB)) = 'array' "
               "THEN jsonb_array_length(CAST({0} AS JSONB)) ELSE 0 END)",
)
FloorInt = dialect_function(
    "FloorInt", BigInteger(),
    doc="The integer part of a non-negative number (floor; SQLite's CAST truncates toward zero).",
    default="CAST({0} AS INTEGER)",
    postgresql="CAST(FLOOR({0}) AS BIGINT)",
)


def _int(value: int) -> ColumnElement[int]:
    return literal_column(str(int(value)), BigInteger)


def supplier_sql(orders: Any) -> ColumnElement[Any]:
    """The order's supplier: the designed text field `data.supplier` ('' counts as none)."""
    return func.nullif(JsonValue(orders.c.data, "supplier", FactType.STRING), literal("", String))


def carrier_sql(orders: Any, shipments: Any) -> ColumnElement[Any]:
    """The order's carrier: its latest shipment's, else the designed field `data.carrier`."""
    latest = (select(shipments.c.carrier).where(shipments.c.order_id == orders.c.id)
              .order_by(shipments.c.id.desc()).limit(1).scalar_subquery())
    return func.nullif(func.coalesce(latest, JsonValue(orders.c.data, "carrier", FactType.STRING)),
                       literal("", String))


def supplier_narrow(orders: Any, suppliers: Any) -> ColumnElement[bool]:
    """The orders whose data.supplier reads as one of `suppliers` (a list or a select), by its
    indexed text (DataText, revision mendsb_0001), not a scan of every order. A superset of
    `supplier_sql(orders).in_(suppliers)` only by orders whose supplier is a JSON number or
    boolean spelled like a wanted name: their supplier_sql is NULL, so they join no group and
    widen nothing. Not AND-ed with the exact expression: the planner, estimating that one at a
    default 0.5 %, would take a big supplier's thousands of orders for one and nest loops."""
    return DataText(orders.c.data, "supplier").in_(suppliers)


def closed_samples(orders: Any, now: datetime) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """(where the order is a closed sample, 1 when it was on time else 0)."""
    c = orders.c
    now_s = epoch_seconds(now)
    closed = EpochSeconds(c.closed_at)
    where = and_(c.status == "completed", c.closed_at.is_not(None), c.planned_delivery.is_not(None),
                 c.closed_at > literal(horizon(now), c.closed_at.type), closed <= _int(now_s),
                 closed > _int(now_s - WINDOW_DAYS * 86400))
    delivered = EpochSeconds(func.coalesce(c.signed_at, c.closed_at))
    on_time = case((delivered < DateEpoch(c.planned_delivery) + _int(86400), 1), else_=0)
    return where, on_time


def urges_by_customer(orders: Any, events: Any, now: datetime):
    """SELECT customer_id, urges on its orders in the last URGE_DAYS days."""
    now_s = epoch_seconds(now)
    at = EpochSeconds(events.c.at)
    return (select(orders.c.customer_id.label("customer_id"), func.count().label("urges"))
            .select_from(events.join(orders, orders.c.id == events.c.order_id))
            .where(events.c.type.in_(URGE_EVENTS), at <= _int(now_s), at > _int(now_s - URGE_DAYS * 86400))
            .group_by(orders.c.customer_id))


def contacts_by_customer(orders: Any, now: datetime):
    """SELECT customer_id, days of silence (floor), late closed samples."""
    c = orders.c
    now_s = epoch_seconds(now)
    since = func.coalesce(func.max(EpochSeconds(c.last_customer_contact_at)), func.max(EpochSeconds(c.created_at)))
    where, on_time = closed_samples(orders, now)
    late = func.sum(case((where, 1 - on_time), else_=0))
    return (select(c.customer_id.label("customer_id"), ((_int(now_s) - since) / _int(86400)).label("silent"),
                   late.label("late"))
            .group_by(c.customer_id))


def priority_sql(orders: Any, tier: ColumnElement[Any], today: date,
                 probability: ColumnElement[Any] | None = None) -> ColumnElement[Any]:
    """The priority score of each order (0 unless open), one expression over its columns, its stored
    delay probability (`probability`; default the orders' own column `delay_probability`) and the
    customer's tier. `today`: the UTC date of `now`."""
    c = orders.c
    amount = cast(c.amount, Float)
    value = case(*((amount >= literal_column(f"{bound}.0", Float), _int(points)) for bound, points in VALUE_BANDS),
                 else_=_int(VALUE_FLOOR))
    tier_points = case(*((tier == literal(name, String), _int(points)) for name, points in TIER_POINTS.items()),
                       else_=_int(0))
    days = DateEpoch(c.planned_delivery) / _int(86400) - _int(today.toordinal() - date(1970, 1, 1).toordinal())
    urgency = case((c.planned_delivery.is_(None), _int(0)), (days < 0, _int(URGENCY_OVERDUE)),
                   *((days <= bound, _int(points)) for bound, points in URGENCY), else_=_int(0))
    flags = JsonLength(c.risk_flags) * _int(RISK_PER_FLAG)
    risk = case((flags > _int(RISK_CAP), _int(RISK_CAP)), else_=flags)
    p = c.delay_probability if probability is None else probability
    clamped = case((p > literal_column("1.0", Float), literal_column("1.0", Float)),
                   (p < literal_column("0.0", Float), literal_column("0.0", Float)), else_=p)
    predicted = FloorInt(clamped * literal_column(f"{RISK_CAP}.0", Float) + literal_column("0.5", Float))
    risk = case((p.is_not(None) & (predicted > risk), predicted), else_=risk)
    total = value + tier_points + urgency + risk
    return case((c.status != "open", _int(0)), (total > _int(100), _int(100)), else_=total)


def _rates(orders: Any, group: ColumnElement[Any], now: datetime, among: Any = None, narrow: Any = None):
    """Subquery (grp, rate) over the closed samples, the rate divided in double precision
    (`among`: a select of the group values wanted, None: every group; `narrow`: a cheaper condition
    every sample of those groups meets, checked first)."""
    where, on_time = closed_samples(orders, now)
    rate = ToFloat(func.sum(on_time)) / ToFloat(func.count())
    query = select(group.label("grp"), rate.label("rate")).where(where, group.is_not(None))
    if among is not None:
        query = query.where(*(() if narrow is None else (narrow,)), group.in_(among))
    return query.group_by(group)


def order_scores_select(orders: Any, shipments: Any, customers: Any, events: Any, now: datetime,
                        only: Callable[[Any], ColumnElement[bool]] | None = None, predictions: Any = None):
    """SELECT id and the five stored scores of every open order, in one statement (the refresh
    UPDATE ... FROM reads it). Rates group over all orders; each open order joins its groups.

    `only` (a condition over an alias of `orders`): just the open orders it selects, and the groups
    are computed only for their customers, suppliers and carriers (the change-driven refresh).
    `predictions` (order_id, delay_probability): where the stored delay probability lives, when not
    on `orders` (joined by order id)."""
    o = orders.alias("o")
    source = o if predictions is None else o.outerjoin(predictions, predictions.c.order_id == o.c.id)
    probability = None if predictions is None else predictions.c.delay_probability
    supplier, carrier = supplier_sql(o), carrier_sql(o, shipments)
    wanted: dict[str, Any] = {"customer": None, "supplier": None, "carrier": None}
    if only is not None:
        for name, value in (("customer", lambda a: a.c.customer_id), ("supplier", supplier_sql),
                            ("carrier", lambda a: carrier_sql(a, shipments))):
            a = orders.alias(f"wanted_{name}")
            wanted[name] = select(value(a)).where(a.c.status == "open", only(a))
    by_customer = _rates(orders, orders.c.customer_id, now, wanted["customer"]).subquery("by_customer")
    narrow = None if wanted["supplier"] is None else supplier_narrow(orders, wanted["supplier"])
    by_supplier = _rates(orders, supplier_sql(orders), now, wanted["supplier"], narrow).subquery("by_supplier")
    narrow = None
    if wanted["carrier"] is not None:
        # the latest shipment's carrier is one of some shipment's: probe shipments once, not per sample
        # (each arm an index lookup, InSelect: OR-ed `IN (subquery)` arms filter a scan of every
        # closed order). Only here: the open orders of a marked carrier are found by the exact
        # expression (refresh_changed), a superset would widen the carriers recomputed
        narrow = or_(InSelect(orders.c.id, select(shipments.c.order_id).where(shipments.c.carrier.in_(wanted["carrier"]))),
                     InSelect(DataText(orders.c.data, "carrier"), wanted["carrier"]))
    by_carrier = _rates(orders, carrier_sql(orders, shipments), now, wanted["carrier"], narrow).subquery("by_carrier")
    urges = urges_by_customer(orders, events, now)
    contacts = contacts_by_customer(orders, now)
    if only is not None:
        urges = urges.where(orders.c.customer_id.in_(wanted["customer"]))
        contacts = contacts.where(orders.c.customer_id.in_(wanted["customer"]))
    urges, contacts = urges.subquery("urges"), contacts.subquery("contacts")
    tier = select(customers.c.tier).where(customers.c.id == o.c.customer_id).scalar_subquery()
    churn = (case((func.coalesce(urges.c.urges, 0) >= URGE_SIGNAL, _int(1)), else_=_int(0))
             + case((contacts.c.silent > _int(SILENCE_DAYS), _int(1)), else_=_int(0))
             + case((func.coalesce(contacts.c.late, 0) >= LATE_SIGNAL, _int(1)), else_=_int(0)))
    return (select(o.c.id.label("id"), by_customer.c.rate.label("customer_on_time_rate"),
                   by_supplier.c.rate.label("supplier_on_time_rate"), by_carrier.c.rate.label("carrier_on_time_rate"),
                   priority_sql(o, tier, now.date(), probability).label("priority_score"),
                   churn.label("churn_signals"))
            .select_from(source.outerjoin(by_customer, by_customer.c.grp == o.c.customer_id)
                         .outerjoin(by_supplier, by_supplier.c.grp == supplier)
                         .outerjoin(by_carrier, by_carrier.c.grp == carrier)
                         .outerjoin(urges, urges.c.customer_id == o.c.customer_id)
                         .outerjoin(contacts, contacts.c.customer_id == o.c.customer_id))
            .where(o.c.status == "open", *(() if only is None else (only(o),))))
