"""Fields the orders data set of a report has beyond the rules' fact catalogue: when an order was
delivered, whether that was on time, and how long an unpaid payment is overdue, in buckets.

Why this exists: the day-one on-time trend groups orders by the month they were delivered and counts
the share delivered by the planned date, a condition comparing two fields of the same order, which
the rule builder's condition cannot say; the payment ageing groups unpaid orders by 0–30 / 31–60 /
61–90 / 90+ days overdue. Both are fields here, compiled to SQL (both dialects) from the order
table and its event log, so a filter, a rate or a dimension reads them like any other field and no
string is pasted into SQL.

- `delivered_at`: the customer's signature (`signed_at`), else the first time the order entered
  delivered or a later stage (invoicing, payment, completed) in the event log; NULL when neither.
  Stored on the order row since `reportfast_0001` (engine/reports/reached.py): read as a column.
- `delivered_on_time`: its day in the installation's time zone is on or before `planned_delivery`;
  NULL when either is missing.
- `payment_overdue_bucket`: for an open order past `payment_due` (days as `days_overdue_payment_due`
  counts them, in the installation's days), "0_30" (1–30 days), "31_60", "61_90" or "90_plus";
  NULL otherwise. Its values' names in both languages are `AGEING_LABELS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import String, and_, case, false, literal, or_, true
from sqlalchemy.sql.elements import ColumnElement

from engine.facts import Catalogue, FactContext, FactType, fact_sql
from engine.facts.catalogue import FieldSpec
from engine.reports.reached import DELIVERED_STAGES

__all__ = ["AGEING_BUCKETS", "AGEING_LABELS", "DELIVERED_STAGES", "REPORT_ORDER_FIELDS", "with_report_fields",
           "report_order_columns"]

AGEING_BUCKETS = (("0_30", 30), ("31_60", 60), ("61_90", 90), ("90_plus", None))
AGEING_LABELS: dict[str, tuple[str, str]] = {
    "0_30": ("0–30 天", "0–30 days"), "31_60": ("31–60 天", "31–60 days"),
    "61_90": ("61–90 天", "61–90 days"), "90_plus": ("90 天以上", "Over 90 days"),
}

REPORT_ORDER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("delivered_at", FactType.DATETIME, "core", "实际交付时间", "Delivered at"),
    FieldSpec("delivered_on_time", FactType.BOOL, "core", "按期交付", "Delivered on time"),
    FieldSpec("payment_overdue_bucket", FactType.STRING, "core", "付款逾期账龄", "Payment overdue ageing",
              options=tuple(k for k, _ in AGEING_BUCKETS)),
)


def with_report_fields(catalogue: Catalogue) -> Catalogue:
    """The orders' fact catalogue plus the report-only fields above."""
    return Catalogue({**catalogue.fields, **{f.name: f for f in REPORT_ORDER_FIELDS}})


def report_order_columns(orders: Any, events: Any, catalogue: Catalogue, ctx: FactContext,
                         on_or_before: Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[bool]]
                         ) -> Mapping[str, Any]:
    """The order table's columns plus the SQL of the report-only fields. `on_or_before(ts, date)`
    says whether a timestamp's day in the installation's time zone is on or before a date (the
    compiler's `LocalDayOnOrBefore`, rendered per dialect)."""
    delivered = orders.c.delivered_at
    planned = orders.c.planned_delivery
    on_time = case((or_(delivered.is_(None), planned.is_(None)), None),
                   (on_or_before(delivered, planned), true()), else_=false())
    days = fact_sql("days_overdue_payment_due", orders.c, catalogue, ctx)
    unpaid = and_(orders.c.status == literal("open", String), days > 0)
    ageing = case(*[(and_(unpaid, days <= limit), literal(key, String)) for key, limit in AGEING_BUCKETS if limit],
                  (unpaid, literal("90_plus", String)), else_=None)
    return {**{c.key: c for c in orders.c}, "delivered_at": delivered, "delivered_on_time": on_time,
            "payment_overdue_bucket": ageing}
