"""Orders (table `sales_order`: `order` is an SQL keyword) and their append-only event log."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime

STATUSES = ("open", "completed", "cancelled")
DELIVERED_WITH_PLAN = "delivered_at IS NOT NULL AND planned_delivery IS NOT NULL"  # ix_sales_order_delivered
MESSAGE_TYPES_SQL = "type IN ('urged', 'customer_message', 'customer_reply')"  # engine/reports/builtin.py


#: expression indexes on designed fields, made by revision mendsb_0001 and not declared below (the
#: expression differs by dialect): the text engine/facts/sql.py DataText reads, for looking up a
#: supplier's orders (the change-driven scores, the automatic decisions' history) and the closed
#: samples of the carriers a change touches (the change-driven scores)
DATA_TEXT_INDEXES = {"ix_sales_order_data_supplier": "supplier", "ix_sales_order_data_carrier": "carrier"}


class Order(SQLModel, table=True):
    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_sales_order_status_stage", "status", "stage"),
        Index("ix_sales_order_created_id", "created_at", "id"),
        Index("ix_sales_order_owner_created", "owner_id", "created_at", "id"),
        Index("ix_sales_order_stage_entered", "stage", "stage_entered_at"),
        Index("ix_sales_order_stage_created", "stage", "created_at", "id"),  # orders_0002; + PG trigram
        Index("ix_sales_order_amount_id", "amount", "id"),  # orders_0003
        # insight1m_0001: the open orders' customer and amount, for the day-one "top customers by open
        # value" over all time (an index-only scan of the open orders, not a scan of every order);
        # partial: a closed order leaves it
        Index("ix_sales_order_open_customer_amount", "customer_id", "amount",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
        # dayone1m_0001: covering indexes for the day-one tiles over all time (index-only scans on
        # PostgreSQL). The on-time trend: delivered orders with a planned date, with what its filter and
        # the access clause read; partial, so an order enters it only when delivered.
        Index("ix_sales_order_delivered", "delivered_at",
              postgresql_include=["planned_delivery", "status", "owner_id", "id"],
              postgresql_where=text(DELIVERED_WITH_PLAN), sqlite_where=text(DELIVERED_WITH_PLAN)),
        # the customers data set's figures per customer, in customer order (replaces the plain
        # customer_id index: same key, so the look-ups by customer use it as before)
        Index("ix_sales_order_customer_figures", "customer_id",
              postgresql_include=["status", "amount", "delivered_at", "planned_delivery", "owner_id", "id"]),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    customer_id: int = Field(foreign_key="customer.id")  # indexed by ix_sales_order_customer_figures (dayone1m_0001)
    owner_id: int = Field(foreign_key="app_user.id")  # indexed by ix_sales_order_owner_created (bulk5_0001)
    amount: Decimal = Field(sa_column=Column(Numeric(18, 2), nullable=False))
    currency: str = Field(default="CNY", max_length=3)
    stage: str = Field(max_length=40)
    status: str = Field(default="open", max_length=20)
    stage_entered_at: datetime = Field(sa_type=UTCDateTime)
    planned_delivery: date | None = Field(default=None, index=True)
    payment_due: date | None = Field(default=None, index=True)
    source: str = Field(default="manual", max_length=40)
    external_id: str | None = Field(default=None, max_length=120)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    form_key: str | None = Field(default=None, max_length=80)
    form_version: int | None = None
    tags: list[str] = Field(default_factory=list, sa_type=JSONType)
    risk_flags: list[str] = Field(default_factory=list, sa_type=JSONType)
    urge_count: int = 0
    last_customer_contact_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # logistics_0001: customer signed for it
    shipped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # shipped_0001: carrier + tracking number
    # reportfast_0001: for reports over all time (engine/reports/reached.py): signed for, else first entered
    # delivered or later; and a bit per stage the order has ever entered (the stage funnel)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stages_entered: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    # autodecide_0001: stored scores, refreshed by the worker job `order_scores` (engine/facts/scores.py)
    customer_on_time_rate: float | None = None
    supplier_on_time_rate: float | None = None
    carrier_on_time_rate: float | None = None
    priority_score: int = Field(default=0, index=True)
    churn_signals: int = Field(default=0, index=True)
    # foresight's predictions (predicted_stage_done_at, predicted_completion_at, delay_probability,
    # stage_p90_hours) live in foresight_score since predtable_0001: read-only deferred attributes, added below


class OrderEvent(SQLModel, table=True):
    """Append-only: who did what to an order, when, with the values before and after."""

    __tablename__ = "order_event"
    __table_args__ = (
        Index("ix_order_event_order_at", "order_id", "at", "id"),
        # reportfast_0001: the customer's attention (urges, messages, replies) by time, for the day-one
        # "urges and messages per week" over all time; partial, so no other event writes to it
        Index("ix_order_event_messages", "at", postgresql_where=text(MESSAGE_TYPES_SQL),
              sqlite_where=text(MESSAGE_TYPES_SQL)),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id")
    type: str = Field(max_length=40)  # created / updated / stage_entered / approved / urged / ...
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor_label: str | None = Field(default=None, max_length=120)  # "system", "rule: X", "customer"
    at: datetime = Field(sa_type=UTCDateTime)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    note: str | None = Field(default=None, max_length=2000)


class OrderStageVisit(SQLModel, table=True):
    """A stage visit: the order entered `stage` by event `event_id` at `entered_at` and left it at
    `left_at`, its next stage change in (at, id) order (NULL: still there; a report counts it up to
    now). Reports read time in stage here instead of windowing the event log (insight1m_0001).

    Written by the database itself, in the transaction that inserts the event: an AFTER INSERT
    trigger on `order_event` (PostgreSQL: once per statement over its new rows, set-based; SQLite:
    per row), so every writer — the order-change pipeline, bulk and history imports, the demo and
    bench generators — keeps it without knowing of it. Type, actor and the stage left ride along so
    the order events data set reads a stage event without the event row.

    `seconds` (stagetime_0001): whole seconds spent, floor(left_at) - floor(entered_at) as the reports
    count them (EpochSeconds), written with `left_at`; NULL while the order is there. Reports read a
    duration as coalesce(seconds, now - floor(entered_at)) from the indexes alone (no epoch of two
    timestamps per visit)."""

    __tablename__ = "order_stage_visit"
    __table_args__ = (
        # each order's visits in order (the trigger's re-linking); on PostgreSQL with the stage and seconds
        # included, so a reader who sees some orders reads their visits' durations from the index alone
        Index("ix_order_stage_visit_order", "order_id", "entered_at", "event_id", postgresql_include=["stage", "seconds"]),
        # time in stage per stage over all time: each stage's left visits in duration order, then its open
        # ones (seconds NULL) in entered_at order; an index-only scan in stage order for the general plan
        Index("ix_order_stage_visit_stage_seconds", "stage", "seconds", "entered_at"),
    )

    event_id: int = Field(primary_key=True, foreign_key="order_event.id", ondelete="CASCADE",
                          sa_column_kwargs={"autoincrement": False})
    order_id: int
    type: str = Field(max_length=40)
    actor_id: int | None = None
    stage_from: str | None = None
    stage: str
    entered_at: datetime = Field(sa_type=UTCDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seconds: int | None = Field(default=None, sa_type=BigInteger)


def prediction_columns(orders: Any = None) -> dict[str, Any]:
    """Each prediction column of foresight_score as a correlated subquery over `orders` (sales_order
    or an alias of it): how the facts' SQL reads them (one primary-key probe per order and column)."""
    from sqlalchemy import select

    from backend.foresight.models import PREDICTIONS, ForesightScore

    table = ForesightScore.__table__
    orders = Order.__table__ if orders is None else orders
    return {name: select(table.c[name]).where(table.c.order_id == orders.c.id).correlate_except(table)
            .scalar_subquery().label(name) for name in PREDICTIONS}


_COLUMN_KEYS: tuple[str, ...] = ()
_ABSENT = object()


def column_values(order: Order, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The order's columns (and `extra` attributes) by name. A loaded value is read from the
    instance's dict, what the attribute returns without its descriptor (a chunk of 500 changed
    orders reads 20,000 of them); one not loaded (expired) through the attribute, which loads it."""
    global _COLUMN_KEYS
    if not _COLUMN_KEYS:
        _COLUMN_KEYS = tuple(c.key for c in Order.__table__.columns)
    loaded = order.__dict__
    out: dict[str, Any] = {}
    for key in (*_COLUMN_KEYS, *extra) if extra else _COLUMN_KEYS:
        value = loaded.get(key, _ABSENT)
        out[key] = getattr(order, key) if value is _ABSENT else value
    return out


def fact_columns(orders: Any = None) -> dict[str, Any]:
    """What the facts' SQL (engine/facts/sql.py) reads: the order's columns and its prediction."""
    orders = Order.__table__ if orders is None else orders
    return {**{c.key: c for c in orders.c}, **prediction_columns(orders)}


PREDICTION_GROUP = "prediction"


def _predictions() -> None:
    """The order's prediction as read-only attributes, deferred: loading an order (a list, a chunk,
    a page) does not read foresight_score; reading `order.delay_probability` on one order loads the
    four together (one statement); a reader of many orders loads them for all at once with
    `load_predictions` (one statement for the batch). `Order.delay_probability` in a query is the
    correlated subquery (join foresight_score where an index should serve, as the order list's
    riskiest-first sort does). Not expired when the order row is flushed (`expire_on_flush=False`):
    they read foresight_score, which an UPDATE of the order does not change, and an expired one is
    read again one order at a time (burst3: a chunk of 500 flagged orders read them 500 times)."""
    from sqlalchemy.orm import column_property

    for name, expression in prediction_columns().items():
        Order.__mapper__.add_property(name, column_property(expression, deferred=True, group=PREDICTION_GROUP,
                                                               expire_on_flush=False))


_predictions()


def load_predictions(session: Any, orders: Any) -> None:
    """Load the prediction of every order in `orders` whose prediction is not loaded yet: one
    SELECT of foresight_score for them all (selectin-like), the values set as loaded (orders
    without a row read None)."""
    from sqlalchemy import inspect, select
    from sqlalchemy.orm.attributes import set_committed_value

    from backend.foresight.models import PREDICTIONS, ForesightScore

    todo = {}
    for order in orders:
        if order.id is not None and PREDICTIONS[0] in inspect(order).unloaded:
            todo[order.id] = order
    if not todo:
        return
    table = ForesightScore.__table__
    found: dict[int, Any] = {}
    ids = sorted(todo)
    for start in range(0, len(ids), 1000):
        part = ids[start:start + 1000]
        found.update((row[0], row) for row in session.connection().execute(
            select(table.c.order_id, *(table.c[name] for name in PREDICTIONS)).where(table.c.order_id.in_(part))))
    for oid, order in todo.items():
        row = found.get(oid)
        for j, name in enumerate(PREDICTIONS):
            set_committed_value(order, name, row[j + 1] if row is not None else None)
