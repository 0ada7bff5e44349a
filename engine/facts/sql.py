"""The SQL rendering of facts: SQLAlchemy core expressions, on SQLite and PostgreSQL.

Why this exists: time rules scan every open order at once, so each fact of the catalogue also
needs a set-based form. engine/ does not import backend models: the caller passes a mapping from
core column name to column (`sales_order.c`). Dialect differences (epoch seconds, date arithmetic,
JSON extraction) live in small SQL constructs compiled per dialect below. Numbers come out as
double precision so that arithmetic and comparisons round exactly like Python floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Float, Integer, String, case, cast, literal, literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from engine.facts.catalogue import Catalogue, FactContext, FactType, epoch_seconds

__all__ = ["fact_sql", "UnknownFact"]


class UnknownFact(KeyError):
    """The name is not in the catalogue (never pasted into SQL)."""


class EpochSeconds(FunctionElement):
    """Whole seconds since 1970 of a UTC timestamp column (floor), as a big integer."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(EpochSeconds)
def _epoch_sqlite(element, compiler, **kw):
    (arg,) = element.clauses
    # substr: drop the fraction, strftime would round it (SQLite keeps milliseconds)
    return f"CAST(strftime('%s', substr({compiler.process(arg, **kw)}, 1, 19)) AS INTEGER)"


@compiles(EpochSeconds, "postgresql")
def _epoch_pg(element, compiler, **kw):
    (arg,) = element.clauses
    return f"CAST(floor(EXTRACT(EPOCH FROM {compiler.process(arg, **kw)})) AS BIGINT)"


class DaysFrom(FunctionElement):
    """Whole days from the date `today` (a bound date) to a date column: column - today."""

    type = Integer()
    inherit_cache = True
    name = "days_from"


@compiles(DaysFrom)
def _days_sqlite(element, compiler, **kw):
    column, today = element.clauses
    return (
        f"CAST(julianday({compiler.process(column, **kw)}) - julianday({compiler.process(today, **kw)})"
        " AS INTEGER)"
    )


@compiles(DaysFrom, "postgresql")
def _days_pg(element, compiler, **kw):
    column, today = element.clauses
    return f"({compiler.process(column, **kw)} - CAST({compiler.process(today, **kw)} AS DATE))"


class ToFloat(FunctionElement):
    type = Float()
    inherit_cache = True
    name = "to_float"


@compiles(ToFloat)
def _float_sqlite(element, compiler, **kw):
    (arg,) = element.clauses
    return f"CAST({compiler.process(arg, **kw)} AS REAL)"


@compiles(ToFloat, "postgresql")
def _float_pg(element, compiler, **kw):
    (arg,) = element.clauses
    return f"CAST({compiler.process(arg, **kw)} AS DOUBLE PRECISION)"


class JsonValue(FunctionElement):
    """A designed field `data.<key>` read with the field's type; NULL when the JSON type differs.

    The key travels as a bound parameter (never pasted into SQL). On SQLite json_extract; on
    PostgreSQL `->` / `->>` with json_typeof (or jsonb_typeof for a JSONB column).
    """

    inherit_cache = False  # rendering depends on an attribute, not only on the clauses: never cache
    name = "json_value"

    def __init__(self, data: ColumnElement[Any], key: str, kind: FactType) -> None:
        self.kind = kind
        self.type = {
            FactType.NUMBER: Float(),
            FactType.BOOL: Boolean(),
        }.get(kind, String())
        if kind is FactType.LIST:
            self.type = data.type  # a JSON array, read with the JSON functions of the data column
        super().__init__(data, literal(f"$.{key}", String), literal(key, String))


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
    if kind is FactType.BOOL:
        return (
            f"(CASE json_type({data}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
        )
    value = f"json_extract({data}, {path})"
    if kind is FactType.NUMBER:
        value = f"CAST({value} AS REAL)"
    elif kind is FactType.LIST:
        value = f"json_extract({data}, {path})"
    shape = ""
    if kind is FactType.DATE:
        shape = f" AND {value} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
    return f"(CASE WHEN json_type({data}, {path}) IN {_SQLITE_JSON_TYPES[kind]}{shape} THEN {value} END)"


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
    shape = ""
    if kind is FactType.DATE:
        shape = f" AND {text} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"
    return f"(CASE WHEN {typeof}({raw}) = {_PG_JSON_TYPES[kind]}{shape} THEN {value} END)"


def is_jsonb_column(element: Any, dialect: Any) -> bool:
    """Whether a JSON column is JSONB on this dialect (also through `JSON().with_variant(JSONB())`)."""
    column_type = getattr(element, "type", None)
    if column_type is None:
        return False
    return isinstance(column_type.dialect_impl(dialect), postgresql.JSONB)


def _int(value: int) -> ColumnElement[int]:
    # Integers we computed ourselves: inline them, a working-hours tree has thousands.
    return literal_column(str(int(value)), BigInteger)


def _working_hours_remaining(seconds: ColumnElement[int], ctx: FactContext) -> ColumnElement[Any]:
    """Working seconds from `seconds` (epoch, floored) to now, clamped to the lookback window.

    W(t) (working seconds from the window start to t) is piecewise linear; we precompute the
    breakpoints for [now - lookback, now] in Python and render a balanced CASE tree, so each row
    takes about log2(breakpoints) comparisons.
    """
    now_s = ctx.now_seconds
    now = datetime.fromtimestamp(now_s, UTC)
    floor = now - timedelta(days=ctx.working_hours_lookback_days)
    floor_s = epoch_seconds(floor)
    cal = ctx.calendar
    day = floor.astimezone(cal.zone).date() - timedelta(days=1)
    last = now.astimezone(cal.zone).date() + timedelta(days=1)
    intervals: list[tuple[int, int]] = []
    while day <= last:
        for lo, hi in cal.working_intervals(day):
            lo_s, hi_s = max(epoch_seconds(lo), floor_s), min(epoch_seconds(hi), now_s)
            if hi_s > lo_s:
                intervals.append((lo_s, hi_s))
        day += timedelta(days=1)
    intervals.sort()
    total = sum(hi - lo for lo, hi in intervals)
    # Segments (start, remaining-at-start, is_linear): remaining(t) = const or const - (t - start).
    segments: list[tuple[int, int, bool]] = []
    done = 0
    cursor = None
    for lo, hi in intervals:
        if cursor is None or lo > cursor:
            segments.append((cursor if cursor is not None else lo, total - done, False))
        segments.append((lo, total - done, True))
        done += hi - lo
        cursor = hi
    segments.append((cursor if cursor is not None else now_s, 0, False))

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
        (seconds >= _int(now_s), _int(0)),
        (seconds < _int(segments[0][0]), _int(total)),
        else_=tree(segments),
    )


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
    if name in ("hours_in_stage", "hours_since_last_customer_contact"):
        column = columns["last_customer_contact_at" if name.startswith("hours_since") else "stage_entered_at"]
        return ToFloat(now_s - EpochSeconds(column)) / literal_column("3600.0", Float)
    if name == "working_hours_in_stage":
        column = columns["stage_entered_at"]
        remaining = _working_hours_remaining(EpochSeconds(column), ctx)
        return case((column.is_(None), None), else_=ToFloat(remaining) / literal_column("3600.0", Float))
    if name == "days_since_created":
        diff = now_s - EpochSeconds(columns["created_at"])
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
