"""The SQL rendering of facts: SQLAlchemy core expressions, on SQLite and PostgreSQL.

Why this exists: time rules scan every open order at once, so each fact of the catalogue also
needs a set-based form. The engine knows no backend model: the caller passes a mapping from
core column name to column (`sales_order.c`). Dialect differences (epoch seconds, date arithmetic,
JSON extraction) live in small SQL constructs compiled per dialect below. Numbers come out as
double precision so that arithmetic and comparisons round exactly like Python floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Integer,
    String,
    case,
    cast,
    false,
    literal,
    literal_column,
    or_,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from engine.facts.catalogue import (
    DERIVED_SOURCES,
    PAIR_SOURCES,
    Catalogue,
    FactContext,
    FactType,
    derived_of_source,
    working_time_index,
)
from engine.facts.dialect import dialect_function

__all__ = ["fact_sql", "null_sql", "source_column", "threshold_sql", "UnknownFact"]


class UnknownFact(KeyError):
    """The name is not in the catalogue (never pasted into SQL)."""


EpochSeconds = dialect_function(
    "EpochSeconds", BigInteger(),
    doc="Whole seconds since 1970 of a UTC timestamp column (floor), as a big integer.",
    # substr: drop the fraction, strftime would round it (SQLite keeps milliseconds)
    default="CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER)",
    postgresql="CAST(floor(EXTRACT(EPOCH FROM {0})) AS BIGINT)",
)
DaysFrom = dialect_function(
    "DaysFrom", Integer(),
    doc="Whole days from the date `today` (a bound date) to a date column: column - today.",
    default="CAST(julianday({0}) - julianday({1}) AS INTEGER)",
    postgresql="({0} - CAST({1} AS DATE))",
)
DateEpochSeconds = dialect_function(
    "DateEpochSeconds", BigInteger(),
    doc="Seconds since 1970 of a date column's midnight (UTC).",
    default="CAST(strftime('%s', {0}) AS INTEGER)",
    postgresql="CAST(EXTRACT(EPOCH FROM CAST({0} AS TIMESTAMP)) AS BIGINT)",
)
ToFloat = dialect_function("ToFloat", Float(), default="CAST({0} AS REAL)",
                           postgresql="CAST({0} AS DOUBLE PRECISION)")


class JsonValue(FunctionElement):
    """A designed field `data.<key>` read with the field's type; NULL when the JSON type differs.

    The key travels as a bound parameter (never pasted into SQL). On SQLite json_extract; on
    PostgreSQL `->` / `->>` with json_typeof (or jsonb_typeof for a JSONB column).
    """

    inherit_cache = False  # rendering depends on an attribute, not only on the clauses: never cache
    name = "json_value"

    def __init__(self, data: ColumnElement[Any], key: str, kind: FactType, part: str = "value") -> None:
        self.kind = kind
        # value: the typed value or NULL; guard: whether the JSON type fits (never NULL);
        # raw: the value without the guard (only where extracting cannot fail: text, dates, booleans)
        self.part = part
        self.type = {
            FactType.NUMBER: Float(),
            FactType.BOOL: Boolean(),
        }.get(kind, String())
        if kind is FactType.LIST:
            self.type = data.type  # a JSON array, read with the JSON functions of the data column
        if part == "guard":
            self.type = Boolean()
        super().__init__(data, literal(f"$.{key}", String), literal(key, String))


class DataText(FunctionElement):
    """A designed field's text `data.<key>` as an index lookup needs it: the key written into the
    SQL (JsonValue binds it, and a bound key never matches an index), no type guard. PostgreSQL
    `(data ->> 'key')`, SQLite `json_extract(data, '$.key')`: the very expressions of the indexes
    `ix_sales_order_data_supplier` / `_carrier` (revision mendsb_0001), so a supplier's orders, or
    a carrier's closed samples, are an index scan, not a scan of every order.

    Unguarded, a number 5 reads '5' on PostgreSQL: use it to narrow (a superset of the orders whose
    JsonValue matches), not as the field's value. Keys are the code's own identifiers only."""

    inherit_cache = True
    name = "data_text"
    type = String()

    def __init__(self, data: ColumnElement[Any], key: str) -> None:
        if not DATA_KEY.fullmatch(key):
            raise ValueError(f"not a data key: {key!r}")
        self.key = key
        super().__init__(data, literal_column(f"'{key}'"))  # the key in the clauses: in the cache key


DATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@compiles(DataText)
def _data_text_sqlite(element, compiler, **kw):
    return f"json_extract({compiler.process(list(element.clauses)[0], **kw)}, '$.{element.key}')"


@compiles(DataText, "postgresql")
def _data_text_pg(element, compiler, **kw):
    return f"({compiler.process(list(element.clauses)[0], **kw)} ->> '{element.key}')"


class InSelect(FunctionElement):
    """`column IN (SELECT ...)` that stays an index lookup when OR-ed with other conditions:
    PostgreSQL plans an OR arm `x IN (subquery)` as a filter over a scan (a hashed subplan cannot
    join a BitmapOr), but `x = ANY(ARRAY(subquery))` as an index scan fed by the subquery run
    once. SQLite looks an IN (subquery) up in the index either way."""

    inherit_cache = True
    name = "in_select"
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison already: SQLite must not get `... = 1`

    def __init__(self, column: ColumnElement[Any], query: Any) -> None:
        super().__init__(column, query.scalar_subquery())


@compiles(InSelect)
def _in_select_sqlite(element, compiler, **kw):
    column, query = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} IN {query}"


@compiles(InSelect, "postgresql")
def _in_select_pg(element, compiler, **kw):
    column, query = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} = ANY(ARRAY{query})"


_SQLITE_JSON_TYPES = {
    FactType.NUMBER: "('integer', 'real')",
    FactType.STRING: "('text')",
    FactType.DATE: "('text')",
    FactType.LIST: "('array')",
}
_PG_JSON_TYPES = {
    FactType.NUMBER: "'number'",
    FactType.STRING: "'string'",
    FactType.DATE: "'string'",
    FactType.BOOL: "'boolean'",
    FactType.LIST: "'array'",
}


@compiles(JsonValue)
def _json_sqlite(element, compiler, **kw):
    data, path, _key = (compiler.process(c, **kw) for c in element.clauses)
    kind = element.kind
    value = f"json_extract({data}, {path})"
    if kind is FactType.NUMBER:
        value = f"CAST({value} AS REAL)"
    guard = f"json_type({data}, {path}) IN {_SQLITE_JSON_TYPES.get(kind, '')}"
    if kind is FactType.BOOL:
        guard = f"json_type({data}, {path}) IN ('true', 'false')"
    if kind is FactType.DATE:
        guard += f" AND {value} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
    return _json_part(element.part, guard, value)


@compiles(JsonValue, "postgresql")
def _json_pg(element, compiler, **kw):
    data_column = list(element.clauses)[0]
    data, _path, key = (compiler.process(c, **kw) for c in element.clauses)
    is_jsonb = is_jsonb_column(data_column, compiler.dialect)
    typeof = "jsonb_typeof" if is_jsonb else "json_typeof"
    kind = element.kind
    raw = f"({data} -> {key})"
    text = f"({data} ->> {key})"
    if kind is FactType.NUMBER:
        value = f"CAST({text} AS DOUBLE PRECISION)"
    elif kind is FactType.BOOL:
        value = f"({text} = 'true')"
    elif kind is FactType.LIST:
        value = raw
    else:
        value = text
    guard = f"{typeof}({raw}) = {_PG_JSON_TYPES[kind]}"
    if kind is FactType.DATE:
        guard += f" AND {text} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"
    return _json_part(element.part, guard, value, "false")


def _json_part(part: str, guard: str, value: str, false: str = "0") -> str:
    if part == "guard":
        return f"coalesce({guard}, {false})"
    if part == "raw":
        return value
    return f"(CASE WHEN {guard} THEN {value} END)"


def is_jsonb_column(element: Any, dialect: Any) -> bool:
    """Whether a JSON column is JSONB on this dialect (also through `JSON().with_variant(JSONB())`)."""
    column_type = getattr(element, "type", None)
    if column_type is None:
        return False
    return isinstance(column_type.dialect_impl(dialect), postgresql.JSONB)


def _int(value: int) -> ColumnElement[int]:
    # Integers we computed ourselves: inline them, a working-hours tree has thousands.
    return literal_column(str(int(value)), BigInteger)


@lru_cache(maxsize=32)
def _working_hours_tree(column: ColumnElement[Any], ctx: FactContext) -> ColumnElement[Any]:
    """The working-hours expression of a column, built once per (column, moment, calendar)."""
    remaining = _working_hours_remaining(EpochSeconds(column), ctx)
    return case((column.is_(None), None), else_=ToFloat(remaining) / literal_column("3600.0", Float))


def _working_hours_remaining(seconds: ColumnElement[int], ctx: FactContext) -> ColumnElement[Any]:
    """Working seconds from `seconds` (epoch, floored) to now, clamped to the lookback window.

    A balanced CASE tree over the breakpoints of `working_time_index` (the Python rendering uses
    the same index), so each row takes about log2(breakpoints) comparisons. Comparisons of the fact
    with a constant do not use this at all: see `threshold_sql`.
    """
    index = working_time_index(ctx.now_seconds, ctx.calendar, ctx.working_hours_lookback_days)
    segments = list(index.segments)

    def leaf(start: int, remaining: int, is_linear: bool) -> ColumnElement[Any]:
        if not is_linear:
            return _int(remaining)
        return _int(remaining + start) - seconds

    def tree(items: list[tuple[int, int, bool]]) -> ColumnElement[Any]:
        if len(items) == 1:
            return leaf(*items[0])
        middle = len(items) // 2
        return case((seconds < _int(items[middle][0]), tree(items[:middle])), else_=tree(items[middle:]))

    return case(
        (seconds >= _int(index.now_s), _int(0)),
        (seconds < _int(segments[0][0]), _int(index.total)),
        else_=tree(segments),
    )


# Search domains of the source columns: any stored timestamp / date lies inside.
_SECONDS_DOMAIN = (-62_135_596_800, 253_402_300_799)  # 0001-01-01 .. 9999-12-31 23:59:59 UTC
_DAYS_DOMAIN = (date.min.toordinal(), date.max.toordinal())


def source_column(name: str, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[Any] | None:
    """The column a derived fact is computed from (NULL there is NULL in the fact), else None."""
    source = DERIVED_SOURCES.get(name)
    return columns[source[0]] if source else None


def null_sql(name: str, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool] | None:
    """When a derived fact read from two columns is NULL (either column NULL, or no positive p90)."""
    if name == "stall_ratio":
        p90 = columns["stage_p90_hours"]
        return or_(columns["stage_entered_at"].is_(None), p90.is_(None), p90 <= 0)
    if name in PAIR_SOURCES:
        a, b = PAIR_SOURCES[name]
        return or_(columns[a].is_(None), columns[b].is_(None))
    return None


def _floor_days(diff: ColumnElement[Any]) -> ColumnElement[Any]:
    """Floor division of a seconds difference by a day, on both databases (their integer division
    truncates toward zero)."""
    return ToFloat(cast(case((diff >= 0, diff // _int(86400)), else_=-((_int(86399) - diff) // _int(86400))),
                        BigInteger))


def threshold_sql(
    name: str, predicate: Callable[[float], bool], columns: Mapping[str, ColumnElement[Any]], ctx: FactContext
) -> ColumnElement[bool] | None:
    """`predicate(fact)` as a range on the fact's source column, for rows where that column is set.

    Every derived fact is monotone in its source (later stage entry: fewer hours in stage; later
    due date: more days until), so a comparison with a constant holds on one side of a boundary.
    We find the boundary by bisecting the fact's own Python definition with the evaluator's own
    comparison, so the range is exact, and the scan can use the column's index. Returns None when
    the fact is not derived from a single column.
    """
    source = DERIVED_SOURCES.get(name)
    if source is None:
        return None
    column = columns[source[0]]
    lo, hi = _SECONDS_DOMAIN if source[1] == "seconds" else _DAYS_DOMAIN

    def holds(x: int) -> bool:
        return predicate(derived_of_source(name, x, ctx))

    first, last = holds(lo), holds(hi)
    if first == last:  # monotone and equal at both ends: the same everywhere
        return true() if first else false()
    # smallest x with holds(x) != first
    a, b = lo, hi
    while b - a > 1:
        middle = (a + b) // 2
        if holds(middle) == first:
            a = middle
        else:
            b = middle
    if source[1] == "seconds":
        bound = literal(datetime.fromtimestamp(b, UTC), column.type)
    else:
        bound = literal(date.fromordinal(b), column.type)
    # epoch seconds are floored, so floor(t) < b  <=>  t < b
    return column < bound if first else column >= bound


def fact_sql(
    name: str, columns: Mapping[str, ColumnElement[Any]], catalogue: Catalogue, ctx: FactContext
) -> ColumnElement[Any]:
    """The SQL rendering of fact `name` (NULL where the Python rendering is None).

    Numbers are double precision; strings text; dates native dates (compare them with date
    literals); lists JSON arrays. Raises UnknownFact for a name outside the catalogue.
    """
    if name not in catalogue:
        raise UnknownFact(name)
    spec = catalogue[name]
    if spec.source == "designed":
        return JsonValue(columns["data"], name.removeprefix("data."), spec.type)
    if spec.source == "core":
        column = columns[name]
        return ToFloat(column) if spec.type is FactType.NUMBER else column
    now_s = _int(ctx.now_seconds)
    if name in ("hours_in_stage", "hours_since_last_customer_contact", "hours_since_signed"):
        column = columns[DERIVED_SOURCES[name][0]]
        return ToFloat(now_s - EpochSeconds(column)) / literal_column("3600.0", Float)
    if name == "working_hours_in_stage":
        return _working_hours_tree(columns["stage_entered_at"], ctx)
    if name == "stall_ratio":
        p90 = columns["stage_p90_hours"]
        hours = ToFloat(now_s - EpochSeconds(columns["stage_entered_at"])) / literal_column("3600.0", Float)
        return case((or_(p90.is_(None), p90 <= 0), None), else_=hours / ToFloat(p90))
    if name == "predicted_days_late":
        diff = EpochSeconds(columns["predicted_completion_at"]) - DateEpochSeconds(columns["planned_delivery"])
        return _floor_days(diff)
    if name in ("days_since_created", "days_since_signed"):
        diff = now_s - EpochSeconds(columns[DERIVED_SOURCES[name][0]])
        # floor division on both databases (their integer division truncates toward zero)
        floored = case(
            (diff >= 0, diff // _int(86400)),
            else_=-((_int(86399) - diff) // _int(86400)),
        )
        return ToFloat(cast(floored, BigInteger))
    for prefix in ("days_until_", "days_overdue_"):
        if name.startswith(prefix):
            column = columns[name.removeprefix(prefix)]
            until = DaysFrom(column, literal(ctx.today, Date))
            if prefix == "days_until_":
                return ToFloat(until)
            return case((column.is_(None), None), (until >= 0, literal_column("0.0", Float)), else_=ToFloat(-until))
    raise UnknownFact(name)
