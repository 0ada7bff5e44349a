"""Compile a report definition into one SQLAlchemy SELECT over the order table (no pasted strings).

Why this exists: a report is a GROUP BY over every order a person may see; it must run in the
database, on SQLite and PostgreSQL alike, and read fields exactly as rules read them. Every field
goes through the fact catalogue's SQL rendering (`engine.facts.sql.fact_sql`), filters and `rate`
conditions through the rule compiler (`engine.rules.compiler.compile_condition`), so a name not in
the catalogue never reaches SQL and "amount > 1000" means the same in a rule and in a report.

Shape: an inner SELECT computes, per order, the dimensions `d0…` (date buckets in the
installation's time zone) and each measure's value `v0…`; the outer SELECT groups by the
dimensions and aggregates (`m0…`). Another data set (line items, to-dos, order events, firings,
customers) is the same shape over its own rows: `engine.reports.datasets` maps its catalogue's
names to SQL over those rows, and that mapping stands in for the order table's columns.

- `stage_hours.<stage>`: hours the order spent in a stage, summed over its visits, from the
  event log: events whose `after` carries a stage are ordered per order, each lasts until the next
  such event (an open visit until `now`). Only events of the orders in the report are read.
- median / p90 are `percentile_cont` (linear interpolation between closest ranks, numpy's
  default). PostgreSQL has it; on SQLite the inner SELECT numbers each group's values with
  window functions (`row_number`, `count`), and the outer picks the two ranks around
  (n - 1) · p and interpolates: the same figure, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from engine.facts import Catalogue, FactContext, FactType, fact_sql
from engine.facts.sql import EpochSeconds, JsonValue
from engine.reports.datasets import (
    LineItemsField,
    Rows,
    condition_vars,
    dataset_rows,
    only_order_fields,
    order_columns,
    order_field_columns,
)
from engine.reports.definition import ReportDefinition, ReportProblem, report_catalogue, stage_of
from engine.reports.funnel import funnel_filter, funnel_statement, stage_entered_clause
from engine.reports.order_fields import report_order_columns
from engine.reports.timezone import offset_segments
from engine.rules.compiler import NotCompilable, compile_condition

__all__ = ["CompiledReport", "compile_report", "compile_funnel", "funnel_cell", "cell_clause", "dimension_sql", "PERCENTILES", "report_rows",
           "order_report_columns"]

PERCENTILES = {"median": 0.5, "p90": 0.9}


class Bucket(FunctionElement):
    """The start of the day/week/month/quarter/year holding a timestamp (local to `zone`) or a
    date, as 'YYYY-MM-DD' text. Weeks start on Monday."""

    inherit_cache = False
    type = String()
    name = "report_bucket"

    def __init__(self, value: ColumnElement[Any], bucket: str, zone: str | None, *, text_date: bool = False):
        self.bucket, self.zone, self.text_date = bucket, zone, text_date
        args = [value] if zone is None else [value, literal(zone, String)]
        super().__init__(*args)


_SQLITE_FORMAT = {
    "day": "date({0})",
    "week": "date({0}, 'weekday 0', '-6 days')",
    "month": "strftime('%Y-%m-01', {0})",
    "year": "strftime('%Y-01-01', {0})",
    "quarter": "printf('%s-%02d-01', strftime('%Y', {0}), ((CAST(strftime('%m', {0}) AS INTEGER) - 1) / 3) * 3 + 1)",
}


def _sqlite_offset(column: str, zone: str) -> str:
    """The SQLite date modifier that shifts a UTC timestamp column into `zone` ('+28800 seconds')."""
    segments = offset_segments(zone)
    if len(segments) == 1:
        return f"'{int(segments[0][1]):+d} seconds'"
    epoch = f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"

    def tree(items: tuple[tuple[int, int], ...]) -> str:
        if len(items) == 1:
            return f"'{int(items[0][1]):+d} seconds'"
        middle = len(items) // 2
        return f"(CASE WHEN {epoch} < {int(items[middle][0])} THEN {tree(items[:middle])} ELSE {tree(items[middle:])} END)"

    return tree(segments)


@compiles(Bucket)
def _bucket_sqlite(element, compiler, **kw):
    value = compiler.process(list(element.clauses)[0], **kw)
    local = value if element.zone is None else f"datetime({value}, {_sqlite_offset(value, element.zone)})"
    return _SQLITE_FORMAT[element.bucket].format(local)


@compiles(Bucket, "postgresql")
def _bucket_pg(element, compiler, **kw):
    clauses = [compiler.process(c, **kw) for c in element.clauses]
    if element.zone is None:
        local = f"CAST({clauses[0]} AS DATE)"
    else:
        local = f"timezone({clauses[1]}, {clauses[0]})"
    return f"to_char(date_trunc('{element.bucket}', {local}), 'YYYY-MM-DD')"


class LocalDayOnOrBefore(FunctionElement):
    """Whether a timestamp's day in time zone `zone` is on or before a date. PostgreSQL compares
    dates (`CAST(timezone(zone, ts) AS DATE) <= d`); the 'YYYY-MM-DD' text of a day bucket costs a
    to_char per order — over every delivered order of an installation, seconds. SQLite compares
    the day bucket's text with the stored date's."""

    inherit_cache = False
    type = Boolean()
    name = "report_on_or_before"

    def __init__(self, value: ColumnElement[Any], day: ColumnElement[Any], zone: str):
        self.zone = zone
        super().__init__(value, day, literal(zone, String))


@compiles(LocalDayOnOrBefore)
def _on_or_before_sqlite(element, compiler, **kw):
    value, day, _zone = list(element.clauses)
    local = compiler.process(Bucket(value, "day", element.zone), **kw)
    return f"({local} <= CAST({compiler.process(day, **kw)} AS TEXT))"


@compiles(LocalDayOnOrBefore, "postgresql")
def _on_or_before_pg(element, compiler, **kw):
    value, day, zone = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(timezone({zone}, {value}) AS DATE) <= {day})"


class BucketKey(Bucket):
    """A bucket's start as the database groups it cheapest: PostgreSQL's `date_trunc` timestamp
    (comparing and sorting timestamps, not collated text, and no to_char per row); SQLite's text."""

    inherit_cache = False
    name = "report_bucket_key"


class BucketText(FunctionElement):
    """A `BucketKey` as the bucket's 'YYYY-MM-DD' text."""

    inherit_cache = False
    type = String()
    name = "report_bucket_text"


def _keyed(expression: ColumnElement[Any]) -> ColumnElement[Any]:
    if type(expression) is Bucket:
        return BucketKey(list(expression.clauses)[0], expression.bucket, expression.zone, text_date=expression.text_date)
    return expression


@compiles(BucketKey)
def _bucket_key_sqlite(element, compiler, **kw):
    return _bucket_sqlite(element, compiler, **kw)


@compiles(BucketKey, "postgresql")
def _bucket_key_pg(element, compiler, **kw):
    clauses = [compiler.process(c, **kw) for c in element.clauses]
    local = f"CAST({clauses[0]} AS DATE)" if element.zone is None else f"timezone({clauses[1]}, {clauses[0]})"
    return f"date_trunc('{element.bucket}', {local})"


@compiles(BucketText)
def _bucket_text_sqlite(element, compiler, **kw):
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(BucketText, "postgresql")
def _bucket_text_pg(element, compiler, **kw):
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)}, 'YYYY-MM-DD')"


@dataclass(frozen=True)
class CompiledReport:
    """The SELECT (columns d0…, m0…) and what the caller needs to read its rows."""

    statement: Any
    dimension_count: int
    measure_count: int


def _condition(condition: Any, catalogue: Catalogue, columns: Mapping[str, Any], ctx: FactContext,
               path: str) -> ColumnElement[bool]:
    try:
        return compile_condition(condition, catalogue, columns, ctx)
    except NotCompilable as exc:
        raise ReportProblem("report.condition_not_compilable", path, reason=str(exc.args[0] if exc.args else "")) from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise ReportProblem("report.condition_invalid", path) from exc


def dimension_sql(field: str, bucket: str | None, catalogue: Catalogue, columns: Mapping[str, Any],
                  ctx: FactContext) -> ColumnElement[Any]:
    """One dimension over the order table: the raw core column (ids stay ids), a designed field or
    derived fact as the catalogue renders it, or a date bucket."""
    spec = catalogue[field]
    if bucket:
        if spec.type is FactType.DATETIME:
            return Bucket(columns[field], bucket, ctx.calendar.zone.key)
        value = columns[field] if spec.source == "core" else JsonValue(columns["data"], field.removeprefix("data."),
                                                                       FactType.DATE)
        return Bucket(value, bucket, None, text_date=spec.source != "core")
    if spec.source == "core":
        return columns[field]
    return fact_sql(field, columns, catalogue, ctx)


def order_report_columns(orders: Any, events: Any, catalogue: Catalogue, ctx: FactContext,
                         extra: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The orders data set's columns: the order table's and the report-only fields' SQL (delivered
    at, on time, payment ageing: `engine.reports.order_fields`), days in the installation's zone.
    `extra`: facts stored outside the order table (the prediction's columns, by name)."""
    zone = ctx.calendar.zone.key
    return {**report_order_columns(orders, events, catalogue, ctx, lambda ts, day: LocalDayOnOrBefore(ts, day, zone)),
            **(extra or {})}


def _stage_hours(report: ReportDefinition, orders: Any, events: Any, ctx: FactContext,
                 scope: ColumnElement[bool], dialect: str, visit: Any = None) -> Any | None:
    """Per order, the hours spent in each stage the measures name (a subquery, or None).

    Returns (the subquery, stage -> its column, the join condition). PostgreSQL sums each report
    order's visits in a LATERAL subquery (the (order_id, at, id) index, in order: a month of orders
    reads its ~300,000 events, not the whole log); SQLite has no LATERAL and reads the events of
    `order_id IN (the report's orders)` with a window per order, then joins on order id. With the
    stored stage visits (`visit`, insight1m_0001) the same sums read those rows of the named stages
    (each with the time it was left) and no window."""
    stages = sorted({s for m in report.measures if m.field and (s := stage_of(m.field))})
    if not stages:
        return None
    now_s = literal_column(str(int(ctx.now_seconds)), Integer)
    if visit is not None:
        # the stored whole seconds of a left visit (stagetime_0001), an open one's up to now
        spent = (cast(func.coalesce(visit.c.seconds, now_s - EpochSeconds(visit.c.entered_at)), Float)
                 / literal_column("3600.0", Float))
        sums = [func.sum(case((visit.c.stage == literal(name, String), spent))).label(f"h{i}")
                for i, name in enumerate(stages)]
        named = visit.c.stage.in_([literal(name, String) for name in stages])
        if dialect == "postgresql":
            summed = select(*sums).where(visit.c.order_id == orders.c.id, named).correlate(orders).lateral("stage_hours")
            return summed, {name: summed.c[f"h{i}"] for i, name in enumerate(stages)}, true()
        summed = (select(visit.c.order_id.label("order_id"), *sums)
                  .where(named, visit.c.order_id.in_(select(orders.c.id).where(scope)))
                  .group_by(visit.c.order_id).subquery("stage_hours"))
        return summed, {name: summed.c[f"h{i}"] for i, name in enumerate(stages)}, summed.c.order_id == orders.c.id
    stage = JsonValue(events.c.after, "stage", FactType.STRING)
    at_s = EpochSeconds(events.c.at)
    if dialect == "postgresql":
        visits = (select(stage.label("stage"), at_s.label("at_s"),
                         func.lead(at_s).over(order_by=(events.c.at, events.c.id)).label("next_s"))
                  .where(events.c.order_id == orders.c.id, stage.is_not(None))
                  .correlate(orders).subquery("stage_visit"))
        hours = cast(func.coalesce(visits.c.next_s, now_s) - visits.c.at_s, Float) / literal_column("3600.0", Float)
        summed = (select(*[func.sum(case((visits.c.stage == literal(name, String), hours))).label(f"h{i}")
                           for i, name in enumerate(stages)])
                  .select_from(visits).correlate(orders).lateral("stage_hours"))
        return summed, {name: summed.c[f"h{i}"] for i, name in enumerate(stages)}, true()
    next_at = func.lead(at_s).over(partition_by=events.c.order_id, order_by=(events.c.at, events.c.id))
    visits = (select(events.c.order_id.label("order_id"), stage.label("stage"), at_s.label("at_s"),
                     next_at.label("next_s"))
              .where(stage.is_not(None), events.c.order_id.in_(select(orders.c.id).where(scope)))
              .subquery("stage_visits"))
    hours = cast(func.coalesce(visits.c.next_s, now_s) - visits.c.at_s, Float) / literal_column("3600.0", Float)
    columns = [visits.c.order_id]
    for i, name in enumerate(stages):
        columns.append(func.sum(case((visits.c.stage == literal(name, String), hours))).label(f"h{i}"))
    summed = select(*columns).group_by(visits.c.order_id).subquery("stage_hours")
    return summed, {name: summed.c[f"h{i}"] for i, name in enumerate(stages)}, summed.c.order_id == orders.c.id


def report_rows(report: ReportDefinition, catalogue: Catalogue, tables: Mapping[str, Any], ctx: FactContext, *,
                dialect: str, scope: ColumnElement[bool] | None, line_fields: tuple[LineItemsField, ...] = (),
                orderless: ColumnElement[bool] | None = None) -> Rows:
    """The rows of a report's data set (not orders) with row-level access applied; a filter that
    reads only the order's fields also narrows inside the data set's windows and aggregates.
    `orderless`: the to-dos without an order the reader sees (to-dos data set; None: none)."""
    fields = report_catalogue(report, catalogue)
    early = None
    if report.filter is not None and report.dataset != "customers":
        # the whole filter, or the conjuncts of an "and" that read only the order (the rest waits outside)
        parts = report.filter["and"] if isinstance(report.filter, dict) and isinstance(report.filter.get("and"), list) \
            and len(report.filter) == 1 else [report.filter]
        parts = [p for p in parts if only_order_fields(p)]
        if parts:
            orders = tables["order"]
            early = _condition({"and": parts} if len(parts) > 1 else parts[0], fields,
                               _order_filter_columns(orders, fields), ctx, "filter")
    reads = _reads(report)
    zone = ctx.calendar.zone.key
    return dataset_rows(report.dataset, tables, ctx, dialect=dialect, scope=scope if scope is not None else true(),
                        on_or_before=lambda ts, day: LocalDayOnOrBefore(ts, day, zone), order_filter=early, line_fields=line_fields, catalogue=fields, orderless=orderless,
                        reads=reads, durations="duration_hours" in reads, stages_only=_stages_only(report.filter))


def _stages_only(condition: Any) -> bool:
    """Whether a filter keeps only rows with a `stage_to` (it, or a conjunct of its top "and", is
    `{"!!": [{"var": "stage_to"}]}` or compares `stage_to` with strings by `==` / `in`): the order
    events data set then needs no event that entered no stage."""
    parts = condition["and"] if isinstance(condition, dict) and len(condition) == 1 \
        and isinstance(condition.get("and"), list) else [condition]
    stage = {"var": "stage_to"}
    for part in parts:
        if not isinstance(part, dict) or len(part) != 1:
            continue
        (op, args), = part.items()
        args = args if isinstance(args, list) else [args]
        if op == "!!" and args == [stage]:
            return True
        if op == "==" and len(args) == 2 and stage in args and all(isinstance(a, str) for a in args if a != stage):
            return True
        if op == "in" and len(args) == 2 and args[0] == stage and isinstance(args[1], list) \
                and all(isinstance(a, str) for a in args[1]):
            return True
    return False


def _order_filter_columns(orders: Any, fields: Catalogue) -> dict[str, Any]:
    """The `order.*` fields a data set's filter may read, over the order table: its core columns and
    the designed fields of `fields` (the same columns for the data set's rows and the stage-bit funnel)."""
    return {**order_field_columns(orders, fields), **order_columns(orders)}


def _reads(report: ReportDefinition) -> frozenset[str]:
    """Every field a report reads: dimensions, measures, the filter and rate conditions."""
    names = {d.field for d in report.dimensions} | {m.field for m in report.measures if m.field}
    for condition in [report.filter] + [m.where for m in report.measures]:
        if condition is not None:
            names |= condition_vars(condition)
    return frozenset(names)


def compile_report(report: ReportDefinition, catalogue: Catalogue, orders: Any, events: Any, ctx: FactContext,
                   *, dialect: str, scope: ColumnElement[bool] | None = None, limit: int | None = None,
                   tables: Mapping[str, Any] | None = None, line_fields: tuple[LineItemsField, ...] = (),
                   order_extra: Mapping[str, Any] | None = None,
                   orderless: ColumnElement[bool] | None = None) -> CompiledReport:
    """The report's SELECT. `orders` / `events` are the `sales_order` / `order_event` tables;
    `scope` the row-level access clause (and dashboard filters) over `orders`, always applied;
    `dialect` "postgresql" or another (SQLite). Rows: d0…, m0…, at most `limit` (default the
    report's own). Another data set than orders reads `tables` (engine.reports.datasets) and
    `line_fields` (and to-dos without an order: `orderless`, which of them the reader sees). `catalogue`
    is the orders' fact catalogue either way. `order_extra`: the orders' facts stored outside `orders`
    (order_report_columns). Raises ReportProblem when a condition cannot be compiled."""
    if report.dataset != "orders":
        rows = report_rows(report, catalogue, tables or {"order": orders, "event": events}, ctx, dialect=dialect,
                           scope=scope, line_fields=line_fields, orderless=orderless)
        catalogue, columns, where, source = report_catalogue(report, catalogue), rows.columns, rows.where, rows.source
        if report.filter is not None:
            where = and_(where, _condition(report.filter, catalogue, columns, ctx, "filter"))
        stage_hours = None
    else:
        columns = order_report_columns(orders, events, catalogue, ctx, order_extra)
        catalogue = report_catalogue(report, catalogue)
        where = scope if scope is not None else true()
        if report.filter is not None:
            where = and_(where, _condition(report.filter, catalogue, columns, ctx, "filter"))
        stage_hours = _stage_hours(report, orders, events, ctx, where, dialect, (tables or {}).get("visit"))
        source = orders
        if stage_hours is not None:
            source = orders.outerjoin(stage_hours[0], stage_hours[2])
    # a date bucket is grouped by its start (a timestamp on PostgreSQL) and named as text once per group
    dims = [_keyed(dimension_sql(d.field, d.bucket, catalogue, columns, ctx)).label(f"d{i}")
            for i, d in enumerate(report.dimensions)]
    values: list[Any] = []
    for i, measure in enumerate(report.measures):
        if measure.op == "count":
            continue
        if measure.op == "rate":
            cond = _condition(measure.where, catalogue, columns, ctx, f"measures.{i}.where")
            value = case((cond, literal_column("1.0", Float)), else_=literal_column("0.0", Float))
        elif measure.op == "count_distinct":  # the field as a dimension reads it (ids stay ids)
            value = dimension_sql(measure.field, None, catalogue, columns, ctx)
        elif stage_of(measure.field or "") is not None:
            value = stage_hours[1][stage_of(measure.field)]
        else:
            value = fact_sql(measure.field, columns, catalogue, ctx)
        values.append(value.label(f"v{i}"))
        if measure.op in PERCENTILES and dialect != "postgresql":
            groups = [d.element for d in dims] or None
            values.append(func.row_number().over(partition_by=groups, order_by=(value.is_(None), value)).label(f"rn{i}"))
            values.append(func.count(value).over(partition_by=groups).label(f"n{i}"))
    inner = select(*dims, *values, literal_column("1").label("one")).select_from(source).where(where).subquery("report_rows")
    out_dims = [inner.c[f"d{i}"] for i in range(len(dims))]
    measures = [_aggregate(m.op, i, inner, dialect).label(f"m{i}") for i, m in enumerate(report.measures)]
    named = [(BucketText(c) if isinstance(d.element, BucketKey) else c).label(f"d{i}")
             for i, (c, d) in enumerate(zip(out_dims, dims, strict=True))]
    stmt = select(*named, *measures).select_from(inner)
    if out_dims:
        stmt = stmt.group_by(*out_dims)
    order = []
    for sort in report.sort:
        column = (out_dims if sort.by[0] == "d" else measures)[int(sort.by[1])]
        column = column if sort.by[0] == "d" else literal_column(f"m{sort.by[1]}")
        order.append(column.desc() if sort.dir == "desc" else column.asc())
    order.extend(d.asc() for d in out_dims)
    stmt = stmt.order_by(*order).limit(limit if limit is not None else report.limit)
    return CompiledReport(stmt, len(dims), len(report.measures))


def compile_funnel(report: ReportDefinition, catalogue: Catalogue, orders: Any, ctx: FactContext, *,
                   scope: ColumnElement[bool] | None = None, limit: int | None = None) -> CompiledReport | None:
    """A stage funnel (engine/reports/funnel.py) counted from the order rows' stage bits, or None
    for any other report. Its first row may be the marker of stages without a bit (d0 NULL): the
    caller then compiles the report with `compile_report`."""
    parts = funnel_filter(report)
    if parts is None:
        return None
    fields = report_catalogue(report, catalogue)
    where = and_(scope if scope is not None else true(),
                 *[_condition(p, fields, _order_filter_columns(orders, fields), ctx, "filter") for p in parts])
    stmt = funnel_statement(report, orders, where, limit=limit if limit is not None else report.limit)
    return CompiledReport(stmt, 1, len(report.measures))


def funnel_cell(report: ReportDefinition, catalogue: Catalogue, orders: Any, ctx: FactContext,
                cell: list[Any]) -> ColumnElement[bool] | None:
    """The orders behind one bar of a stage funnel (they entered its stage, and pass the filter's
    order conditions), over the order rows; None for another report or a stage without a bit."""
    parts = funnel_filter(report)
    if parts is None or len(cell) != 1 or (entered := stage_entered_clause(orders, cell[0])) is None:
        return None
    fields = report_catalogue(report, catalogue)
    columns = _order_filter_columns(orders, fields)
    return and_(entered, *[_condition(p, fields, columns, ctx, "filter") for p in parts])


def _aggregate(op: str, i: int, inner: Any, dialect: str) -> ColumnElement[Any]:
    if op == "count":
        return func.count()
    value = inner.c[f"v{i}"]
    if op in ("sum", "avg", "min", "max"):
        return getattr(func, op)(value)
    if op == "rate":
        return func.avg(value)
    if op == "count_distinct":
        return func.count(distinct(value))
    p = PERCENTILES[op]
    if dialect == "postgresql":
        return func.percentile_cont(literal_column(repr(p), Float)).within_group(value)
    rn, n = inner.c[f"rn{i}"], inner.c[f"n{i}"]
    h = cast(n - 1, Float) * literal_column(repr(p), Float)
    low = cast(h, Integer)  # h >= 0: truncation is floor
    lo_v = func.max(case((rn == low + 1, value)))
    hi_v = func.max(case((and_(rn == low + 2, rn <= n), value)))
    frac = func.max(h - low)
    return lo_v + frac * (func.coalesce(hi_v, lo_v) - lo_v)


def _storable(value: Any) -> bool:
    """A cell value both databases can compare (no 64-bit overflow, NaN, NUL or huge text)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    return len(value) <= 200 and "\x00" not in value


def cell_clause(report: ReportDefinition, cell: list[Any], catalogue: Catalogue, columns: Mapping[str, Any],
                ctx: FactContext) -> ColumnElement[bool]:
    """The orders behind one row of the report: its filter and each dimension equal to the cell's
    value (None: the dimension is empty). Used to list the orders behind a bar or a cell."""
    if len(cell) != len(report.dimensions):
        raise ReportProblem("report.bad_cell", "cell")
    parts = []
    if report.filter is not None:
        parts.append(_condition(report.filter, catalogue, columns, ctx, "filter"))
    for dim, value in zip(report.dimensions, cell, strict=True):
        expr = dimension_sql(dim.field, dim.bucket, catalogue, columns, ctx)
        if value is None:
            parts.append(expr.is_(None))
        elif isinstance(value, bool | int | float | str) and _storable(value):
            parts.append(expr == value)
        else:
            raise ReportProblem("report.bad_cell", "cell")
    return and_(true(), *parts)
