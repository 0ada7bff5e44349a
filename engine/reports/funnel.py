"""The stage funnel counted from the order rows: per stage, the orders that ever entered it.

Why this exists: the day-one funnel ("distinct orders that entered each stage", an order events
report: dimension `stage_to`, measure `count_distinct` of `order.number`, filter `stage_to` set)
read every event of every visible order — at 1,000,000 orders, 8,000,000 events windowed and
counted distinct: more than the 10 s budget. Each order row keeps a bit per stage it has entered
(`stages_entered`, engine/reports/reached.py), so the same figures are one pass over the orders:
an order counts for each stage whose bit it has.

A report of exactly that shape (the filter may add conditions on the order's own fields, which
then apply to the order rows) compiles here; any other order events report goes through the data
set as before. The result carries a marker row (`d0` NULL, first) counting the orders that entered
a stage without a bit of its own; when it is not zero the caller runs the report the general way,
so the figures are exact on any installation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    case,
    func,
    literal,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from engine.reports.datasets import only_order_fields
from engine.reports.definition import ReportDefinition
from engine.reports.reached import OTHER_STAGE_BIT, STAGE_BITS

__all__ = ["STAGE_SET", "funnel_filter", "funnel_statement", "is_funnel", "stage_entered_clause"]

STAGE_SET = {"!!": [{"var": "stage_to"}]}


def funnel_filter(report: ReportDefinition) -> list[Any] | None:
    """The filter's conditions on the order's fields (possibly none) when the report is a funnel:
    order events by `stage_to` alone, every measure a distinct count of the order number, filtered
    to stage changes (`stage_to` set) and optionally by the order's fields. None otherwise."""
    if report.dataset != "order_events" or len(report.dimensions) != 1:
        return None
    dim = report.dimensions[0]
    if dim.field != "stage_to" or dim.bucket or not report.measures:
        return None
    if any(m.op != "count_distinct" or m.field != "order.number" for m in report.measures):
        return None
    condition = report.filter
    parts = condition["and"] if isinstance(condition, dict) and len(condition) == 1 and isinstance(
        condition.get("and"), list) else [condition]
    if STAGE_SET not in parts:
        return None
    rest = [p for p in parts if p != STAGE_SET]
    return rest if all(only_order_fields(p) for p in rest) else None


def is_funnel(report: ReportDefinition) -> bool:
    return funnel_filter(report) is not None


def _stages() -> Any:
    """(position, stage) of every stage with a bit, and the marker (after them, NULL)."""
    rows = [select(literal(i, Integer).label("i"), literal(stage, String).label("stage"))
            for i, stage in enumerate(STAGE_BITS)]
    rows.append(select(literal(len(STAGE_BITS), Integer).label("i"), literal(None, String).label("stage")))
    return union_all(*rows).subquery("funnel_stage")


def _has(mask: ColumnElement[Any], bit: Any) -> ColumnElement[bool]:
    return mask.op("&")(bit) != literal_column("0")


def funnel_statement(report: ReportDefinition, orders: Any, where: ColumnElement[bool], *, limit: int) -> Any:
    """The funnel's SELECT over the order rows: d0 (stage; NULL for the marker row, always first),
    m0… (orders that entered it), in the report's sort. `where`: row-level access, dashboard filters
    and the filter's order conditions, over `orders`.

    One pass over the orders sums, per bit, the orders that have it (a row of 12 counts); the stage
    list then turns that row into one row per stage. (Joining each order to its stages instead made
    8,000,000 rows out of 1,000,000 orders to group again: 4× slower.)"""
    bits = [*STAGE_BITS.values(), OTHER_STAGE_BIT]
    one, zero = literal_column("1"), literal_column("0")
    counts = (select(*[func.sum(case((_has(orders.c.stages_entered, literal(bit, BigInteger)), one), else_=zero))
                       .label(f"b{i}") for i, bit in enumerate(bits)])
              .select_from(orders).where(where).subquery("funnel_count"))
    stages = _stages()
    count = case(*[(stages.c.i == literal(i, Integer), counts.c[f"b{i}"]) for i in range(len(bits))])
    measures = [count.label(f"m{i}") for i in range(len(report.measures))]
    stmt = (select(stages.c.stage.label("d0"), *measures).select_from(stages.join(counts, true()))
            .where(count > zero))
    order = [stages.c.stage.is_(None).desc()]
    for sort in report.sort:
        column = stages.c.stage if sort.by[0] == "d" else count
        order.append(column.desc() if sort.dir == "desc" else column.asc())
    order.append(stages.c.stage.asc())
    return stmt.order_by(*order).limit(limit + 1)


def stage_entered_clause(orders: Any, stage: Any) -> ColumnElement[bool] | None:
    """The orders behind one bar of the funnel (they entered `stage`), or None for a stage without
    a bit of its own."""
    if not isinstance(stage, str) or stage not in STAGE_BITS:
        return None
    return _has(orders.c.stages_entered, literal(STAGE_BITS[stage], BigInteger))

