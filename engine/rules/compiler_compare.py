"""Comparisons, equality and `in` between two compiled values, exactly as the evaluator does them.

Two constants are folded by the evaluator itself; otherwise the kinds decide the SQL: strings
compare by code point, numbers as doubles (NUMERIC columns as ranges on the column, derived time
facts as ranges on their source column), dates as ISO text, and what SQL cannot reproduce raises
NotCompilable.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Float, String, and_, bindparam, case, false, literal, not_, true
from sqlalchemy.sql.elements import ColumnElement

from engine.facts.sql import threshold_sql
from engine.jsonlogic import OPERATORS, js_compare, js_equals, js_strict_equals, to_number
from engine.rules.compiler_sql import Binary, Contains, DateText, JsonArray, JsonTextEquals, PgOrElse
from engine.rules.compiler_values import (
    BOOL,
    DATE,
    DATETEXT,
    LIST,
    NUM,
    OPAQUE,
    STR,
    Const,
    NotCompilable,
    Sql,
    Value,
    _const_bool,
    _is_null,
    _iso_date,
    _lit_num,
    _number_of,
)


def _relational(op: str, a: Value, b: Value) -> ColumnElement[bool]:
    if isinstance(a, Const) and isinstance(b, Const):
        return _const_bool(js_compare(op, a.value, b.value))
    if _is_list(a) or _is_list(b):
        raise NotCompilable("rule.compile.compare_list")
    if _stringish(a) and _stringish(b):
        left, right = _text_pair(a, b)
        return _apply(op, left, right)
    # numeric comparison: dates and datetimes are NaN as numbers, so never ordered
    if _is_nan_number(a) or _is_nan_number(b):
        return false()
    ranged = _as_range(op, a, b)
    if ranged is not None:
        return ranged
    guarded = _guarded_compare(op, a, b)
    if guarded is not None:
        return guarded
    left, right = _number_of(a, compared=True), _number_of(b, compared=True)
    as_double = _apply(op, left, right)
    decimal = _as_decimal_range(op, a, b)
    return as_double if decimal is None else PgOrElse(decimal, as_double)


def _guarded_compare(op: str, a: Value, b: Value) -> ColumnElement[bool] | None:
    """A designed number compared with a constant: `CASE WHEN guard THEN raw <op> c ELSE false END`.

    Marked so that `_when` merges it with the NULL branch of the same guard (one type check per row
    instead of three). The CASE keeps the cast behind its guard: PostgreSQL reorders AND operands.
    """
    if isinstance(a, Sql) and a.guarded is not None and isinstance(b, Const):
        guard, raw = a.guarded
        compared = _apply(op, raw, _number_of(b, compared=True))
    elif isinstance(b, Sql) and b.guarded is not None and isinstance(a, Const):
        guard, raw = b.guarded
        compared = _apply(op, _number_of(a, compared=True), raw)
    else:
        return None
    out = case((guard, compared), else_=false())
    out._gendan_guarded = (guard, compared)  # read by _when
    return out


def _as_decimal_range(op: str, a: Value, b: Value) -> ColumnElement[bool] | None:
    """A NUMERIC(p, s) column compared (as a double, like the evaluator) with a constant, as a
    range on the column itself: PostgreSQL's numeric-to-double cast goes through text and is the
    most expensive part of such a comparison.

    The column holds multiples of 10^-s below 10^(p-s); the double of such a value is monotone in
    it, so the comparison holds on one side of a boundary, found by bisecting the column's values
    with the evaluator's own comparison (exact, as `threshold_sql` does for time facts).
    """
    if isinstance(a, Sql) and a.decimal is not None and isinstance(b, Const):
        column, constant = a.decimal, b.value

        def holds(value: float) -> bool:
            return js_compare(op, value, constant)
    elif isinstance(b, Sql) and b.decimal is not None and isinstance(a, Const):
        column, constant = b.decimal, a.value

        def holds(value: float) -> bool:
            return js_compare(op, constant, value)
    else:
        return None
    precision, scale = column.type.precision, column.type.scale

    def holds_at(units: int) -> bool:
        return holds(float(Decimal(units).scaleb(-scale)))

    lo, hi = -(10**precision - 1), 10**precision - 1
    first, last = holds_at(lo), holds_at(hi)
    if first == last:  # monotone and equal at both ends: the same for every value the column holds
        return true() if first else false()
    while hi - lo > 1:  # smallest units with holds_at(units) != first
        middle = (lo + hi) // 2
        if holds_at(middle) == first:
            lo = middle
        else:
            hi = middle
    bound = literal(Decimal(hi).scaleb(-scale), column.type)
    return column < bound if first else column >= bound


def _as_range(op: str, a: Value, b: Value) -> ColumnElement[bool] | None:
    """A derived fact compared with a constant, as a range on its source column (index-friendly)."""
    if isinstance(a, Sql) and a.fact is not None and isinstance(b, Const):
        name, columns, ctx = a.fact
        return threshold_sql(name, lambda value: js_compare(op, value, b.value), columns, ctx)
    if isinstance(b, Sql) and b.fact is not None and isinstance(a, Const):
        name, columns, ctx = b.fact
        return threshold_sql(name, lambda value: js_compare(op, a.value, value), columns, ctx)
    return None


def _apply(op: str, left: Any, right: Any) -> ColumnElement[bool]:
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _is_list(value: Value) -> bool:
    return isinstance(value, Sql) and value.kind == LIST or (
        isinstance(value, Const) and isinstance(value.value, (list, dict))
    )


def _stringish(value: Value) -> bool:
    if isinstance(value, Const):
        return isinstance(value.value, str)
    return value.kind in (STR, DATE, OPAQUE, DATETEXT)


def _is_nan_number(value: Value) -> bool:
    if isinstance(value, Const):
        number = to_number(value.value)
        return isinstance(number, float) and math.isnan(number)
    return value.kind in (DATE, OPAQUE, DATETEXT)


def _text_pair(a: Value, b: Value, *, for_equality: bool = False) -> tuple[Any, Any]:
    """Two string-like values as SQL operands with code point order (dates as ISO text).

    Equality needs no binary collation (deterministic collations compare equal bytes equal), and
    leaving it out keeps the column's index usable.
    """
    if isinstance(a, Sql) and a.kind == OPAQUE or isinstance(b, Sql) and b.kind == OPAQUE:
        return _moment_pair(a, b)
    if isinstance(a, Sql) and a.kind == DATE and isinstance(b, Const) and _iso_date(b.value):
        return a.expr, literal(_iso_date(b.value), Date)
    if isinstance(b, Sql) and b.kind == DATE and isinstance(a, Const) and _iso_date(a.value):
        return literal(_iso_date(a.value), Date), b.expr
    if isinstance(a, Sql) and isinstance(b, Sql) and a.kind == DATE and b.kind == DATE:
        return a.expr, b.expr
    return _text(a, for_equality), _text(b, for_equality)


def _moment_pair(a: Value, b: Value) -> tuple[Any, Any]:
    """A datetime fact against another datetime fact or a canonical UTC ISO constant (what
    `{"now": [...]}` resolves to). The evaluator compares their ISO texts, all written by
    `isoformat()` in UTC (`+00:00`, microseconds only when not zero): for those, text order is
    time order (`…:05+00:00` < `…:05.5+00:00` as '+' < '.'), so the columns compare as timestamps."""
    if isinstance(a, Sql) and isinstance(b, Sql):
        if a.kind == OPAQUE and b.kind == OPAQUE:
            return a.expr, b.expr
        raise NotCompilable("rule.compile.datetime_text")
    column, constant = (a, b) if isinstance(a, Sql) else (b, a)
    moment = _iso_moment(constant.value) if column.kind == OPAQUE else None
    if moment is None:
        raise NotCompilable("rule.compile.datetime_text")
    bound = literal(moment, column.expr.type)
    return (column.expr, bound) if column is a else (bound, column.expr)


def _iso_moment(text: Any) -> datetime | None:
    """A UTC datetime written exactly as the facts write one, else None."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.utcoffset() != timedelta(0) or parsed.isoformat() != text or parsed.year < 1000:
        return None
    return parsed.astimezone(UTC)


def _text(value: Value, plain: bool = False) -> Any:
    if isinstance(value, Const):
        expr = literal(value.value, String)
    elif value.kind == DATE:
        expr = DateText(value.expr)  # the ISO text the evaluator sees
    else:
        expr = value.expr
    return expr if plain else Binary(expr)


def _loose_equal(a: Value, b: Value) -> ColumnElement[bool]:
    if isinstance(a, Const) and isinstance(b, Const):
        return _const_bool(js_equals(a.value, b.value))
    if _is_null(a) or _is_null(b):
        return false()  # the other side is a non-null column value
    if _is_list(a) or _is_list(b):
        raise NotCompilable("rule.compile.compare_list")
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Const) and isinstance(x.value, bool):
            return _loose_equal(Const(1 if x.value else 0), y)
        if isinstance(x, Sql) and x.kind == BOOL:
            if _stringish(y) and isinstance(y, Sql):
                raise NotCompilable("rule.compile.number_of", kind=y.kind)
            return _number_equal(x, y)
    if _stringish(a) and _stringish(b):
        if _date_vs_bad_text(a, b):
            return false()
        designed = _designed_text_equals(a, b)
        if designed is not None:
            return designed
        left, right = _text_pair(a, b, for_equality=True)
        return left == right
    return _number_equal(a, b)


def _designed_text_equals(a: Value, b: Value) -> ColumnElement[bool] | None:
    """A designed string equal to a text constant: on JSONB one comparison of JSON values.

    `data -> key = '"text"'::jsonb` is true only for a JSON string equal to the text (byte equality
    under the deterministic collation), so it implies the type check; `_when` drops the guard.
    """
    for x, y in ((a, b), (b, a)):
        if (isinstance(x, Sql) and x.json_text is not None and isinstance(y, Const) and isinstance(y.value, str)
                and "\x00" not in y.value and not any("\ud800" <= ch <= "\udfff" for ch in y.value)):
            data, key, guard = x.json_text
            fallback = and_(guard, x.expr == literal(y.value, String))
            out = JsonTextEquals(data, literal(key, String), literal(json.dumps(y.value), String), fallback)
            out._gendan_implies = guard  # read by _when
            return out
    return None


def _date_vs_bad_text(a: Value, b: Value) -> bool:
    """A date column equals a text constant only if the text is that date in ISO form."""
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Sql) and x.kind == DATE and isinstance(y, Const) and not _iso_date(y.value):
            return True
    return False


def _number_equal(a: Value, b: Value) -> ColumnElement[bool]:
    if _is_nan_number(a) or _is_nan_number(b):
        return false()
    return _number_of(a, compared=True) == _number_of(b, compared=True)


def _strict_equal(a: Value, b: Value) -> ColumnElement[bool]:
    if isinstance(a, Const) and isinstance(b, Const):
        return _const_bool(js_strict_equals(a.value, b.value))
    if _is_list(a) or _is_list(b):
        raise NotCompilable("rule.compile.compare_list")
    kind_a, kind_b = _strict_kind(a), _strict_kind(b)
    if kind_a != kind_b:
        return false()
    if kind_a == "number":
        return _number_of(a, compared=True) == _number_of(b, compared=True)
    if kind_a == "bool":
        x, y = (a, b) if isinstance(a, Sql) else (b, a)
        if isinstance(y, Const):
            return x.expr if y.value else not_(x.expr)
        return x.expr == y.expr
    if kind_a == "string":
        if _date_vs_bad_text(a, b):
            return false()
        designed = _designed_text_equals(a, b)
        if designed is not None:
            return designed
        left, right = _text_pair(a, b, for_equality=True)
        return left == right
    return false()


def _strict_kind(value: Value) -> str:
    if isinstance(value, Const):
        v = value.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        return "string"
    return {NUM: "number", STR: "string", DATE: "string", DATETEXT: "string", OPAQUE: "string", BOOL: "bool"}[
        value.kind
    ]


def _contains(needle: Value, haystack: Value) -> ColumnElement[bool]:
    if isinstance(needle, Const) and isinstance(haystack, Const):
        return _const_bool(OPERATORS["in"](None, needle.value, haystack.value))
    if isinstance(haystack, Const):
        items = haystack.value
        if isinstance(items, list):
            return _in_constant_list(needle, items)
        if isinstance(items, str):
            if isinstance(needle, Sql) and needle.kind in (STR, DATETEXT):
                return Contains(literal(items, String), needle.expr)
            raise NotCompilable("rule.compile.in_text", kind=needle.kind)
        return false()
    if haystack.kind == STR:
        if isinstance(needle, Const):
            return Contains(haystack.expr, literal(OPERATORS["cat"](None, needle.value), String))
        if needle.kind in (STR, DATETEXT):
            return Contains(haystack.expr, needle.expr)
        raise NotCompilable("rule.compile.in_text", kind=needle.kind)
    if haystack.kind == LIST:
        if isinstance(needle, Const) and isinstance(needle.value, str):
            return JsonArray("contains", haystack.expr, literal(needle.value, String))
        if isinstance(needle, Const) and needle.value is None:
            raise NotCompilable("rule.compile.in_list", kind="null")
        raise NotCompilable("rule.compile.in_list", kind=getattr(needle, "kind", "constant"))
    if haystack.kind in (DATE, OPAQUE, DATETEXT):
        raise NotCompilable("rule.compile.in_text", kind=haystack.kind)
    return false()  # a number or boolean contains nothing


def _inline(values: list[Any], type_: Any) -> Any:
    """A constant list rendered into the SQL text, not as one bind parameter per item: the scan
    query holds every rule, and PostgreSQL allows 65,535 parameters per query."""
    return bindparam(None, values, type_=type_, expanding=True, literal_execute=True)


def _in_constant_list(needle: Value, items: list[Any]) -> ColumnElement[bool]:
    kind = needle.kind
    if kind == NUM:
        values = [to_number(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
        values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]  # NaN is never ===
        if values and all(math.isfinite(v) for v in values):
            return needle.expr.in_(_inline(values, Float))
        return needle.expr.in_([_lit_num(v) for v in values]) if values else false()
    if kind in (STR, DATETEXT):
        values = [v for v in items if isinstance(v, str)]
        return needle.expr.in_(_inline(values, String)) if values else false()
    if kind == BOOL:
        flags = {v for v in items if isinstance(v, bool)}
        if flags == {True, False}:
            return true()
        if flags == {True}:
            return needle.expr
        if flags == {False}:
            return not_(needle.expr)
        return false()
    if kind == DATE:
        days = [d for d in (_iso_date(v) for v in items if isinstance(v, str)) if d]
        return needle.expr.in_([literal(d, Date) for d in days]) if days else false()
    if kind == LIST:
        return false()  # a fresh array is never === an element
    raise NotCompilable("rule.compile.in_list", kind=kind)
