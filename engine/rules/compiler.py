"""Compile a JSON-logic condition into one SQLAlchemy boolean expression over the order table.

Why this exists: time rules ("in stage for more than 24 working hours") are checked for every open
order every minute; looping in Python does not scale, one SQL query per rule does. The compiled
expression must select exactly the orders for which `engine.jsonlogic.matches(rule, facts)` is
true, JavaScript quirks included (null is 0 in `<`, "" is falsy, `"5" == 5`). The tests hold the
two equal on generated rules and orders, on SQLite and PostgreSQL.

How: every sub-expression compiles to an ordered list of branches `(condition, value)`, where the
value has a static kind (number, string, date, bool, list, an opaque datetime) and is never NULL,
or is a Python constant. A nullable fact is two branches: `(x IS NULL, None)` and `(else, x)`.
Operators combine branches pairwise; a pair of constants is folded by the Python evaluator itself,
so null handling is the evaluator's by construction. What SQL cannot reproduce exactly (`%`,
division by a column, comparing a string column with a number, `map`/`filter`, ...) raises
NotCompilable: the rule is then evaluated on events only, and the designer says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, Float, Numeric, String, and_, case, false, literal, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from engine.facts import Catalogue, FactContext, FactType, fact_sql
from engine.facts.dialect import dialect_function
from engine.facts.sql import JsonValue, is_jsonb_column, source_column, threshold_sql
from engine.jsonlogic import (
    OPERATORS,
    is_truthy,
    js_compare,
    js_equals,
    js_strict_equals,
    to_number,
    val_name,
)

__all__ = ["NotCompilable", "compile_condition"]


class NotCompilable(Exception):
    """The condition cannot be one SQL expression; `code` + `params` say why (rule becomes event-only)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code} {params}")
        self.code = code
        self.params = params


# --- dialect-specific pieces -----------------------------------------------------------------


_Binary = dialect_function(
    "_Binary", String(), doc='Strings compared by code point: PostgreSQL needs COLLATE "C".',
    default="{0}", postgresql='({0} COLLATE "C")',
)
_DateText = dialect_function(
    "_DateText", String(), doc="A date column as ISO text 'YYYY-MM-DD' (SQLite already stores it so).",
    default="{0}", postgresql="to_char({0}, 'YYYY-MM-DD')",
)
_Contains = dialect_function(
    "_Contains", Boolean(), doc="haystack contains needle as a substring (both text, non-null).",
    default="(instr({0}, {1}) > 0)", postgresql="(strpos({0}, {1}) > 0)",
)


class _Extreme(FunctionElement):
    """min/max of several numbers: SQLite's scalar min()/max(), PostgreSQL's LEAST/GREATEST."""

    type = Float()
    inherit_cache = False  # rendering depends on an attribute, not only on the clauses: never cache
    name = "extreme"

    def __init__(self, pick: str, *args: ColumnElement[Any]) -> None:
        self.pick = pick
        super().__init__(*args)


@compiles(_Extreme)
def _extreme_sqlite(element, compiler, **kw):
    args = ", ".join(compiler.process(c, **kw) for c in element.clauses)
    return f"{element.pick}({args})"


@compiles(_Extreme, "postgresql")
def _extreme_pg(element, compiler, **kw):
    args = ", ".join(compiler.process(c, **kw) for c in element.clauses)
    return f"{'LEAST' if element.pick == 'min' else 'GREATEST'}({args})"


class _JsonArray(FunctionElement):
    """Tests on a JSON column holding a list: is it an array / is it non-empty / holds a string."""

    type = Boolean()
    inherit_cache = False  # rendering depends on an attribute, not only on the clauses: never cache
    name = "json_array_test"

    def __init__(self, test: str, column: ColumnElement[Any], *args: ColumnElement[Any]) -> None:
        self.test = test
        super().__init__(column, *args)


@compiles(_JsonArray)
def _json_array_sqlite(element, compiler, **kw):
    column, *rest = (compiler.process(c, **kw) for c in element.clauses)
    if element.test == "is_array":
        return f"(coalesce(json_type({column}), '') = 'array')"
    if element.test == "non_empty":
        return f"(json_array_length({column}) > 0)"
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE type = 'text' AND value = {rest[0]})"


@compiles(_JsonArray, "postgresql")
def _json_array_pg(element, compiler, **kw):
    column_el = list(element.clauses)[0]
    column, *rest = (compiler.process(c, **kw) for c in element.clauses)
    prefix = "jsonb" if is_jsonb_column(column_el, compiler.dialect) else "json"
    if element.test == "is_array":
        return f"(coalesce({prefix}_typeof({column}), '') = 'array')"
    if element.test == "non_empty":
        return f"({prefix}_array_length({column}) > 0)"
    return (
        f"EXISTS (SELECT 1 FROM {prefix}_array_elements({column}) AS e(v) "
        f"WHERE {prefix}_typeof(e.v) = 'string' AND ({prefix}_build_array(e.v) ->> 0) = {rest[0]})"
    )


class _PgOrElse(FunctionElement):
    """Two renderings of one boolean: the first on PostgreSQL, the second elsewhere (both exact)."""

    type = Boolean()
    inherit_cache = True
    name = "pg_or_else"


@compiles(_PgOrElse)
def _pg_or_else_default(element, compiler, **kw):
    _pg, other = element.clauses
    return f"({compiler.process(other, **kw)})"


@compiles(_PgOrElse, "postgresql")
def _pg_or_else_pg(element, compiler, **kw):
    pg, _other = element.clauses
    return f"({compiler.process(pg, **kw)})"


class _JsonTextEquals(FunctionElement):
    """data -> key equals a JSON string given as JSON text (never NULL); the fallback where data is
    not JSONB."""

    type = Boolean()
    inherit_cache = True
    name = "json_text_equals"


@compiles(_JsonTextEquals)
def _json_text_equals_default(element, compiler, **kw):
    *_parts, fallback = element.clauses
    return f"({compiler.process(fallback, **kw)})"


@compiles(_JsonTextEquals, "postgresql")
def _json_text_equals_pg(element, compiler, **kw):
    data_column, key, text, fallback = element.clauses
    if not is_jsonb_column(data_column, compiler.dialect):
        return f"({compiler.process(fallback, **kw)})"
    data, key, text = (compiler.process(c, **kw) for c in (data_column, key, text))
    return f"coalesce(({data} -> {key}) = CAST({text} AS JSONB), false)"


# --- compiled values --------------------------------------------------------------------------

NUM, STR, DATE, BOOL, LIST, OPAQUE = "number", "string", "date", "bool", "list", "datetime"
DATETEXT = "datetext"  # a designed date: text shaped YYYY-MM-DD (a string, never a number)


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Sql:
    kind: str
    expr: Any  # ColumnElement, never NULL in its branch
    fact: tuple[str, Any, FactContext] | None = None  # a derived fact: (name, columns, ctx) for ranges
    decimal: Any = None  # a NUMERIC(p, s) column whose double `expr` is: compared as itself on PostgreSQL
    guarded: tuple[Any, Any] | None = None  # (guard, raw): `raw` equals `expr` where `guard` holds, else may fail
    json_text: tuple[Any, str, Any] | None = None  # a designed string: (data column, key, its type guard)


Value = Const | Sql
Branches = list[tuple[Any, Value]]  # ordered: the first condition that holds wins; None = else


def _lit_num(value: float | int) -> ColumnElement[Any]:
    return literal(float(value), Float)


def _const_bool(value: bool) -> ColumnElement[bool]:
    return true() if value else false()


def _is_const_bool(expr: Any) -> bool | None:
    if expr is true() or getattr(expr, "__visit_name__", None) == "true":
        return True
    if expr is false() or getattr(expr, "__visit_name__", None) == "false":
        return False
    return None


def _when(branches: list[tuple[Any, ColumnElement[bool]]]) -> ColumnElement[bool]:
    """A boolean from ordered (condition, boolean) branches; constants folded away.

    Conditions and results are never NULL, so AND/OR rewrites are exact. Folded from the last
    branch back, in a loop, and consecutive CASE branches become one flat CASE built once: a
    thousand branches neither recurse nor copy anything per branch.
    """
    out: Any = None
    pending: list[tuple[Any, Any]] = []  # CASE branches not built yet, last first

    def rest() -> Any:
        nonlocal out, pending
        if pending:
            out, pending = case(*reversed(pending), else_=out), []
        return out

    last = len(branches) - 1
    for index in range(last, -1, -1):
        cond, result = branches[index]
        if cond is None or out is None:
            out, pending = result, []  # an else, or the last branch: what follows it never applies
            continue
        merged = _merge_guard(cond, result, branches[last][1]) if index == last - 1 else None
        if merged is not None:
            out = merged
        elif _is_const_bool(result) is not None or (not pending and _is_const_bool(out) is not None):
            out = _either(cond, result, rest())
        else:
            pending.append((cond, result))
    return rest()


def _merge_guard(cond: Any, result: Any, other: Any) -> ColumnElement[bool] | None:
    """(NOT guard -> result; else CASE WHEN guard THEN x ELSE false END): one CASE, one guard."""
    guard = getattr(cond, "_gendan_unless", None)
    if guard is None:
        return None
    inner = getattr(other, "_gendan_guarded", None)
    if inner is not None and inner[0] is guard:
        return case((guard, inner[1]), else_=result)
    if getattr(other, "_gendan_implies", None) is guard and _is_const_bool(result) is False:
        return other  # true only where the guard holds, never NULL: the guard is implied
    return None


def _either(cond: Any, result: Any, rest: Any) -> ColumnElement[bool]:
    """`result` where `cond` holds, else `rest`: one side is a constant."""
    fixed = _is_const_bool(result)
    if fixed is True:
        return or_(cond, rest)
    if fixed is False:
        return and_(not_(cond), rest)
    if _is_const_bool(rest) is False:
        return and_(cond, result)
    return or_(not_(cond), result)


def _fold(exprs: list[Any], combine) -> Any:
    """`e0 op e1 op ... op en` built as a balanced tree: SQLAlchemy flattens an associative operator
    (+, *, ||) into one list and copies that list at every step, so a left fold is quadratic. The
    flattened list, and so the SQL, is the same left-to-right sum either way."""
    while len(exprs) > 1:
        exprs = [combine(exprs[i], exprs[i + 1]) if i + 1 < len(exprs) else exprs[i]
                 for i in range(0, len(exprs), 2)]
    return exprs[0]


def _conj(cond: Any, other: Any) -> Any:
    if cond is None:
        return other
    if other is None:
        return cond
    return and_(cond, other)


# --- the compiler -----------------------------------------------------------------------------


MAX_PAIRS = 10_000  # branch pairs one condition may combine (two `if`s of 50 branches compared: 2,500)


class _Compiler:
    def __init__(self, catalogue: Catalogue, columns: Mapping[str, Any], ctx: FactContext) -> None:
        self.catalogue = catalogue
        self.columns = columns
        self.ctx = ctx
        self.pairs = 0  # work done combining branches pairwise, bounded by MAX_PAIRS

    # values

    def value(self, node: Any) -> Branches:
        if isinstance(node, list):
            if all(not isinstance(item, (dict, list)) for item in node):
                return [(None, Const(list(node)))]
            raise NotCompilable("rule.compile.array_with_operations")
        if not isinstance(node, dict):
            return [(None, Const(node))]
        if len(node) != 1:
            raise NotCompilable("rule.compile.bad_operation")
        op, raw = next(iter(node.items()))
        args = raw if isinstance(raw, list) else [raw]
        handler = _VALUE_OPS.get(op)
        if handler is None:
            if op in ("and", "or", "!", "!!", "missing"):
                return [(None, Sql(BOOL, self.truth(node)))]
            raise NotCompilable("rule.compile.unsupported_operator", operator=op)
        return handler(self, args)

    def var(self, args: list[Any]) -> Branches:
        name = args[0] if args else None
        default = args[1] if len(args) > 1 else None
        if isinstance(default, (dict, list)):
            raise NotCompilable("rule.compile.computed_default")
        if not isinstance(name, str) or name not in self.catalogue:
            raise NotCompilable("rule.compile.unknown_field", field=repr(name))
        spec = self.catalogue[name]
        expr = fact_sql(name, self.columns, self.catalogue, self.ctx)
        kind = {
            FactType.NUMBER: NUM,
            FactType.STRING: STR,
            FactType.BOOL: BOOL,
            FactType.LIST: LIST,
            FactType.DATETIME: OPAQUE,
            FactType.DATE: DATE if spec.source == "core" else DATETEXT,
        }[spec.type]
        fact = None
        if kind == LIST:
            null_cond = not_(_JsonArray("is_array", expr))
        elif spec.source == "derived":
            null_cond = source_column(name, self.columns).is_(None)
            fact = (name, self.columns, self.ctx)
        elif spec.source == "designed" and spec.type in (FactType.STRING, FactType.DATE, FactType.BOOL):
            # one JSON type check, then the plain extraction (it cannot fail for text or booleans)
            key = name.removeprefix("data.")
            guard = JsonValue(self.columns["data"], key, spec.type, "guard")
            null_cond = not_(guard)
            expr = JsonValue(self.columns["data"], key, spec.type, "raw")
            if spec.type is FactType.STRING:
                null_cond._gendan_unless = guard  # read by _when
                return [(null_cond, Const(default)),
                        (None, Sql(kind, expr, json_text=(self.columns["data"], key, guard)))]
        elif spec.source == "designed" and spec.type is FactType.NUMBER:
            # the type check once; the cast (which fails on other JSON types) only behind it
            key = name.removeprefix("data.")
            guard = JsonValue(self.columns["data"], key, spec.type, "guard")
            null_cond = not_(guard)
            null_cond._gendan_unless = guard  # read by _when
            raw = JsonValue(self.columns["data"], key, spec.type, "raw")
            return [(null_cond, Const(default)), (None, Sql(kind, expr, guarded=(guard, raw)))]
        elif spec.source == "core":
            column = self.columns[name]
            null_cond = column.is_(None)  # the column itself, not its double cast
            column_type = getattr(column, "type", None)
            if (kind == NUM and isinstance(column_type, Numeric) and not isinstance(column_type, Float)
                    and column_type.precision and column_type.scale is not None):
                return [(null_cond, Const(default)), (None, Sql(kind, expr, decimal=column))]
        else:
            null_cond = expr.is_(None)
        return [(null_cond, Const(default)), (None, Sql(kind, expr, fact))]

    # truthiness

    def truth(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, dict) and len(node) == 1:
            op, raw = next(iter(node.items()))
            args = raw if isinstance(raw, list) else [raw]
            if op == "and":
                return and_(*[self.truth(a) for a in args]) if args else false()
            if op == "or":
                return or_(*[self.truth(a) for a in args]) if args else false()
            if op == "!":
                return not_(self.truth(args[0] if args else None))
            if op == "!!":
                return self.truth(args[0] if args else None)
            if op == "missing":
                return self.missing(args)
            if op in ("if", "?:"):
                return self.if_truth(args)
        return _when([(cond, self.truthy_value(v)) for cond, v in self.value(node)])

    def truthy_value(self, value: Value) -> ColumnElement[bool]:
        if isinstance(value, Const):
            return _const_bool(is_truthy(value.value))
        expr = value.expr
        if value.kind == NUM:
            return expr != _lit_num(0)
        if value.kind == STR:
            return expr != literal("", String)
        if value.kind == DATETEXT:
            return true()  # never empty (shaped YYYY-MM-DD)
        if value.kind == BOOL:
            return expr == true() if not isinstance(expr.type, Boolean) else expr
        if value.kind == LIST:
            return _JsonArray("non_empty", expr)
        return true()  # a date or datetime is a non-empty string

    def if_truth(self, args: list[Any]) -> ColumnElement[bool]:
        branches: list[tuple[Any, ColumnElement[bool]]] = []
        index = 0
        while index < len(args) - 1:
            branches.append((self.truth(args[index]), self.truth(args[index + 1])))
            index += 2
        last = self.truth(args[index]) if index < len(args) else false()
        branches.append((None, last))
        return _when(branches)

    def missing(self, args: list[Any]) -> ColumnElement[bool]:
        keys = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        parts = []
        for key in keys:
            if not isinstance(key, str):
                raise NotCompilable("rule.compile.computed_key")
            branches = self.var([key])
            parts.append(_when([(cond, self._is_missing(v)) for cond, v in branches]))
        return or_(*parts) if parts else false()

    @staticmethod
    def _is_missing(value: Value) -> ColumnElement[bool]:
        if isinstance(value, Const):
            return _const_bool(value.value is None or value.value == "")
        if value.kind == STR:
            return value.expr == literal("", String)
        return false()

    # combining

    def pairwise(self, a: Branches, b: Branches, combine) -> ColumnElement[bool]:
        self.pairs += len(a) * len(b)
        if self.pairs > MAX_PAIRS:  # `if`s of `if`s compared with each other multiply their branches
            raise NotCompilable("rule.compile.too_complex", max=MAX_PAIRS)
        outer = []
        for cond_a, va in a:
            inner = [(cond_b, combine(va, vb)) for cond_b, vb in b]
            outer.append((cond_a, _when(inner)))
        return _when(outer)

    def compare(self, op: str, args: list[Any]) -> Branches:
        if len(args) < 2:
            raise NotCompilable("rule.compile.bad_arity", operator=op)
        if len(args) >= 3 and op in (">", ">="):
            raise NotCompilable("rule.compile.bad_arity", operator=op)
        first, second = self.value(args[0]), self.value(args[1])
        if op in ("==", "!="):
            result = self.pairwise(first, second, _loose_equal)
        elif op in ("===", "!=="):
            result = self.pairwise(first, second, _strict_equal)
        else:
            result = self.pairwise(first, second, lambda x, y: _relational(op, x, y))
            if len(args) >= 3 and op in ("<", "<="):  # a null third argument counts as 0, as in JavaScript
                third = self.value(args[2])
                result = and_(result, self.pairwise(second, third, lambda x, y: _relational(op, x, y)))
        if op in ("!=", "!=="):
            result = not_(result)
        return [(None, Sql(BOOL, result))]

    def numbers(self, args: list[Any]) -> list[Value]:
        """Each argument as JavaScript Number(): a constant or a non-null double expression."""
        out: list[Value] = []
        for arg in args:
            branches = self.value(arg)
            if len(branches) == 1 and isinstance(branches[0][1], Const):
                out.append(Const(to_number(branches[0][1].value)))
                continue
            parts = [(cond, _number_of(v)) for cond, v in branches]
            out.append(Sql(NUM, _case_value(parts)))
        return out

    def arithmetic(self, op: str, args: list[Any]) -> Branches:
        if op in ("-", "/"):
            args = args[:2]  # the evaluator ignores the rest
        nums = self.numbers(args)
        consts = [v.value for v in nums if isinstance(v, Const)]
        if any(isinstance(c, float) and math.isnan(c) for c in consts):
            return [(None, Const(math.nan))]  # NaN wins through every operator here
        if len(consts) == len(nums):
            return [(None, Const(OPERATORS[op](None, *consts)))]
        if any(math.isinf(c) for c in consts):
            raise NotCompilable("rule.compile.infinite_constant")
        exprs = [_lit_num(v.value) if isinstance(v, Const) else v.expr for v in nums]
        if op == "+":
            expr = _fold(exprs, lambda x, y: x + y)
        elif op == "*":
            expr = _fold(exprs, lambda x, y: x * y)
        elif op == "-":
            expr = -exprs[0] if len(exprs) == 1 else exprs[0] - exprs[1]
        elif op == "/":
            divisor = nums[1]
            if not isinstance(divisor, Const) or divisor.value == 0:
                raise NotCompilable("rule.compile.division_by_field")
            expr = exprs[0] / exprs[1]
        elif op in ("min", "max"):
            expr = _Extreme(op, *exprs) if len(exprs) > 1 else exprs[0]
        else:
            raise NotCompilable("rule.compile.unsupported_operator", operator=op)
        return [(None, Sql(NUM, expr))]

    def if_value(self, args: list[Any]) -> Branches:
        out: Branches = []
        index = 0
        while index < len(args) - 1:
            cond = self.truth(args[index])
            out.extend((_conj(cond, c), v) for c, v in self.value(args[index + 1]))
            index += 2
        out.extend(self.value(args[index]) if index < len(args) else [(None, Const(None))])
        return out

    def coalesce(self, args: list[Any]) -> Branches:
        """`??`: the first argument that is not null. A null branch of one argument continues with
        the next argument's branches, under the same condition."""
        if not args:
            return [(None, Const(None))]
        out: Branches = []
        for cond, v in self.value(args[0]):
            if _is_null(v) and len(args) > 1:
                out.extend((_conj(cond, c), w) for c, w in self.coalesce(args[1:]))
            else:
                out.append((cond, v))
            if cond is None:
                break  # an else: nothing after it applies
        return out

    def val(self, args: list[Any]) -> Branches:
        """`val` of a constant path is `var` of its dotted name (a key holding a dot is no fact)."""
        name = val_name(args)
        if name is None:
            raise NotCompilable("rule.compile.computed_key")
        return self.var([name])

    def in_(self, args: list[Any]) -> Branches:
        if len(args) < 2:
            raise NotCompilable("rule.compile.bad_arity", operator="in")
        needle, haystack = self.value(args[0]), self.value(args[1])
        return [(None, Sql(BOOL, self.pairwise(needle, haystack, _contains)))]

    def cat(self, args: list[Any]) -> Branches:
        parts: list[Any] = []
        for arg in args:
            branches = self.value(arg)
            if len(branches) == 1 and isinstance(branches[0][1], Const):
                parts.append(OPERATORS["cat"](None, branches[0][1].value))
                continue
            pieces = []
            for cond, v in branches:
                if isinstance(v, Const):
                    pieces.append((cond, literal(OPERATORS["cat"](None, v.value), String)))
                elif v.kind in (STR, DATETEXT):
                    pieces.append((cond, v.expr))
                else:
                    raise NotCompilable("rule.compile.cat_of_non_string", kind=v.kind)
            parts.append(_case_value(pieces))
        if all(isinstance(p, str) for p in parts):
            return [(None, Const("".join(parts)))]
        pieces = [literal(part, String) if isinstance(part, str) else part for part in parts]
        return [(None, Sql(STR, _fold(pieces, lambda x, y: x.concat(y))))]


def _case_value(parts: list[tuple[Any, Any]]) -> Any:
    if len(parts) == 1 or parts[0][0] is None:
        return parts[0][1]
    whens = [(cond, expr) for cond, expr in parts[:-1]]
    return case(*whens, else_=parts[-1][1])


def _is_null(value: Value) -> bool:
    return isinstance(value, Const) and value.value is None


def _number_of(value: Value, *, compared: bool = False) -> Any:
    """A value as a double expression. A `compared` number is only compared, never computed with:
    ±Infinity (10**400 in JSON, "Infinity" as text) is then a plain double on both databases;
    in arithmetic it could make NaN, which SQLite turns into NULL, so it is refused there."""
    if isinstance(value, Const):
        number = to_number(value.value)
        if isinstance(number, float) and (math.isnan(number) or math.isinf(number) and not compared):
            raise NotCompilable("rule.compile.not_a_number", value=repr(value.value))
        return _lit_num(number)
    if value.kind == NUM:
        return value.expr
    if value.kind == BOOL:
        return case((value.expr, _lit_num(1)), else_=_lit_num(0))
    raise NotCompilable("rule.compile.number_of", kind=value.kind)


def _iso_date(text: str) -> date | None:
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.isoformat() == text else None


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
    return as_double if decimal is None else _PgOrElse(decimal, as_double)


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
        raise NotCompilable("rule.compile.datetime_text")
    if isinstance(a, Sql) and a.kind == DATE and isinstance(b, Const) and _iso_date(b.value):
        return a.expr, literal(_iso_date(b.value), Date)
    if isinstance(b, Sql) and b.kind == DATE and isinstance(a, Const) and _iso_date(a.value):
        return literal(_iso_date(a.value), Date), b.expr
    if isinstance(a, Sql) and isinstance(b, Sql) and a.kind == DATE and b.kind == DATE:
        return a.expr, b.expr
    return _text(a, for_equality), _text(b, for_equality)


def _text(value: Value, plain: bool = False) -> Any:
    if isinstance(value, Const):
        expr = literal(value.value, String)
    elif value.kind == DATE:
        expr = _DateText(value.expr)  # the ISO text the evaluator sees
    else:
        expr = value.expr
    return expr if plain else _Binary(expr)


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
            out = _JsonTextEquals(data, literal(key, String), literal(json.dumps(y.value), String), fallback)
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
                return _Contains(literal(items, String), needle.expr)
            raise NotCompilable("rule.compile.in_text", kind=needle.kind)
        return false()
    if haystack.kind == STR:
        if isinstance(needle, Const):
            return _Contains(haystack.expr, literal(OPERATORS["cat"](None, needle.value), String))
        if needle.kind in (STR, DATETEXT):
            return _Contains(haystack.expr, needle.expr)
        raise NotCompilable("rule.compile.in_text", kind=needle.kind)
    if haystack.kind == LIST:
        if isinstance(needle, Const) and isinstance(needle.value, str):
            return _JsonArray("contains", haystack.expr, literal(needle.value, String))
        if isinstance(needle, Const) and needle.value is None:
            raise NotCompilable("rule.compile.in_list", kind="null")
        raise NotCompilable("rule.compile.in_list", kind=getattr(needle, "kind", "constant"))
    if haystack.kind in (DATE, OPAQUE, DATETEXT):
        raise NotCompilable("rule.compile.in_text", kind=haystack.kind)
    return false()  # a number or boolean contains nothing


def _in_constant_list(needle: Value, items: list[Any]) -> ColumnElement[bool]:
    kind = needle.kind
    if kind == NUM:
        values = [to_number(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return needle.expr.in_([_lit_num(v) for v in values]) if values else false()
    if kind in (STR, DATETEXT):
        values = [v for v in items if isinstance(v, str)]
        return needle.expr.in_([literal(v, String) for v in values]) if values else false()
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


_VALUE_OPS = {
    "var": _Compiler.var,
    "==": lambda self, args: self.compare("==", args),
    "!=": lambda self, args: self.compare("!=", args),
    "===": lambda self, args: self.compare("===", args),
    "!==": lambda self, args: self.compare("!==", args),
    "<": lambda self, args: self.compare("<", args),
    "<=": lambda self, args: self.compare("<=", args),
    ">": lambda self, args: self.compare(">", args),
    ">=": lambda self, args: self.compare(">=", args),
    "+": lambda self, args: self.arithmetic("+", args),
    "-": lambda self, args: self.arithmetic("-", args),
    "*": lambda self, args: self.arithmetic("*", args),
    "/": lambda self, args: self.arithmetic("/", args),
    "min": lambda self, args: self.arithmetic("min", args),
    "max": lambda self, args: self.arithmetic("max", args),
    "if": _Compiler.if_value,
    "?:": _Compiler.if_value,
    "in": _Compiler.in_,
    "cat": _Compiler.cat,
    "??": _Compiler.coalesce,
    "val": _Compiler.val,
}


def compile_condition(
    condition: Any, catalogue: Catalogue, columns: Mapping[str, Any], ctx: FactContext
) -> ColumnElement[bool]:
    """A boolean SQL expression, true exactly for the orders where `matches(condition, facts)`.

    `columns` maps core column names (and `data`) to the order table's columns, e.g.
    `sales_order.c`. Raises NotCompilable (code + params) when SQL cannot reproduce the
    evaluator exactly; such a rule runs on events only.
    """
    return _Compiler(catalogue, columns, ctx).truth(condition)
