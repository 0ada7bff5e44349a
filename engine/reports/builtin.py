"""The reports and dashboard a sales director asks for on day one, shipped as definitions.

They are stored (published, version 1) the first time someone opens the dashboards, and from then
on are ordinary definitions: a designer may change them, a new version replaces the shipped one.
What the orders data set cannot say exactly is named as what it is:
- "On-time delivery by month delivered": orders by the month of `delivered_at` (signed for, else
  first entering delivered or later, `engine.reports.order_fields`), the share `delivered_on_time`
  (on or before the planned delivery date);
- "Payment overdue ageing": open orders past their payment date by `payment_overdue_bucket`
  (0–30, 31–60, 61–90, 90+ days);
- "Stage funnel and conversion" reads the order events data set: per stage, the distinct orders that
  ever entered it (`count_distinct` of the order number), in the flow's order; the funnel (view
  `conversion`) shows each stage's share of the stage before it. It is counted from the orders'
  stored stage bits (engine/reports/funnel.py), with the same figures;
- "Time in stage" and "Urges and customer messages per week" read the order events data set:
  every visit of a stage from the event log (median and p90 per stage), and the urge and customer
  message events by the week they happened.

Version 1 of the funnel, time in stage and urges read the orders data set (the funnel: open orders
now in each stage; hours in the current stage of open orders; urges summed by the week the order was
created): `SUPERSEDED` keeps them, so an installation that still has them unchanged is moved to the new definition, and one a designer changed is left alone; so are
version 1 of the on-time trend (delivered share of orders due, by due month) and of the payment
ageing (overdue payments by due month).
"""

from __future__ import annotations

from typing import Any

OPEN = {"==": [{"var": "status"}, "open"]}
# order events a customer's attention leaves: urged (by a person or on the tracking page), a customer's
# message and the reply to it (backend/tracking/messages.py)
MESSAGE_EVENTS = ("urged", "customer_message", "customer_reply")
DELIVERED_OR_LATER = {"in": [{"var": "stage"}, ["delivered", "invoicing", "payment", "completed"]]}


def _report(key: str, zh: str, en: str, **parts: Any) -> dict[str, Any]:
    return {"schema_version": 1, "key": key, "name": {"zh": zh, "en": en}, "dataset": "orders",
            "dimensions": [], "measures": [{"op": "count"}], "filter": None, "sort": [], "limit": 100, **parts}


BUILTIN_REPORTS: list[dict[str, Any]] = [
    _report("day1_stage_funnel", "阶段漏斗与转化", "Stage funnel and conversion", dataset="order_events",
            dimensions=[{"field": "stage_to"}], measures=[{"op": "count_distinct", "field": "order.number"}],
            filter={"!!": [{"var": "stage_to"}]}, sort=[{"by": "m0", "dir": "desc"}],
            view={"type": "funnel", "conversion": True}),
    _report("day1_on_time_trend", "按交付月份的准时交付率", "On-time delivery by month delivered",
            dimensions=[{"field": "delivered_at", "bucket": "month"}],
            measures=[{"op": "rate", "where": {"==": [{"var": "delivered_on_time"}, True]}}, {"op": "count"}],
            filter={"and": [{"!!": [{"var": "delivered_at"}]}, {"!!": [{"var": "planned_delivery"}]},
                            {"!=": [{"var": "status"}, "cancelled"]}]}, view={"type": "line"}),
    _report("day1_overdue_by_owner", "按负责人的逾期订单", "Overdue orders by owner",
            dimensions=[{"field": "owner_id"}],
            filter={"and": [OPEN, {">": [{"var": "days_overdue_planned_delivery"}, 0]}]},
            sort=[{"by": "m0", "dir": "desc"}], view={"type": "bar"}),
    _report("day1_time_in_stage", "各阶段停留时间（中位数和 p90）", "Time in stage (median and p90)",
            dataset="order_events", dimensions=[{"field": "stage_to"}],
            measures=[{"op": "median", "field": "duration_hours"}, {"op": "p90", "field": "duration_hours"}],
            filter={"!!": [{"var": "stage_to"}]}, view={"type": "bar"}),
    _report("day1_payment_overdue", "付款逾期账龄", "Payment overdue ageing",
            dimensions=[{"field": "payment_overdue_bucket"}],
            measures=[{"op": "count"}, {"op": "sum", "field": "amount"}],
            filter={"!!": [{"var": "payment_overdue_bucket"}]}, view={"type": "bar"}),
    _report("day1_top_customers", "在途金额最高的客户", "Top customers by open value",
            dimensions=[{"field": "customer_id"}], measures=[{"op": "sum", "field": "amount"}], filter=OPEN,
            sort=[{"by": "m0", "dir": "desc"}], limit=10, view={"type": "bar"}),
    _report("day1_urges_per_week", "每周催办和客户消息", "Urges and customer messages per week",
            dataset="order_events", dimensions=[{"field": "at", "bucket": "week"}, {"field": "type"}],
            filter={"in": [{"var": "type"}, list(MESSAGE_EVENTS)]}, view={"type": "stacked_bar"}),
]

SUPERSEDED: dict[str, list[dict[str, Any]]] = {
    "day1_on_time_trend": [_report("day1_on_time_trend", "按交期月份的已交付比例", "Delivered share of orders due, by due month",
                                   dimensions=[{"field": "planned_delivery", "bucket": "month"}],
                                   measures=[{"op": "rate", "where": DELIVERED_OR_LATER}, {"op": "count"}],
                                   filter={"and": [{"<": [{"var": "days_until_planned_delivery"}, 0]},
                                                   {"!=": [{"var": "status"}, "cancelled"]}]}, view={"type": "line"})],
    "day1_payment_overdue": [_report("day1_payment_overdue", "按到期月份的逾期付款", "Overdue payments by due month",
                                   dimensions=[{"field": "payment_due", "bucket": "month"}],
                                   measures=[{"op": "count"}, {"op": "sum", "field": "amount"}],
                                   filter={"and": [OPEN, {">": [{"var": "days_overdue_payment_due"}, 0]}]}, view={"type": "bar"})],
    "day1_stage_funnel": [_report("day1_stage_funnel", "阶段漏斗", "Stage funnel", dimensions=[{"field": "stage"}],
                                  filter=OPEN, view={"type": "funnel"})],
    "day1_time_in_stage": [_report("day1_time_in_stage", "各阶段停留时间（中位数和 p90）", "Time in stage (median and p90)",
                                   dimensions=[{"field": "stage"}],
                                   measures=[{"op": "median", "field": "hours_in_stage"},
                                             {"op": "p90", "field": "hours_in_stage"}],
                                   filter=OPEN, view={"type": "bar"})],
    "day1_urges_per_week": [_report("day1_urges_per_week", "每周催办次数（按创建周）", "Urges by week created",
                                    dimensions=[{"field": "created_at", "bucket": "week"}],
                                    measures=[{"op": "sum", "field": "urge_count"}], view={"type": "line"})],
}

BUILTIN_DASHBOARD: dict[str, Any] = {
    "schema_version": 1, "key": "day1_sales_director", "name": {"zh": "销售总监看板", "en": "Sales director"},
    "tiles": [{"report": r["key"], "x": (i % 2) * 6, "y": (i // 2) * 4, "w": 6, "h": 4}
              for i, r in enumerate(BUILTIN_REPORTS)],
    "shared_with": {"roles": ["sales", "viewer", "finance", "approver"], "departments": []},
}
