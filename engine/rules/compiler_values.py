"""Compiled values of the rule compiler and how branches combine (engine/rules/compiler.py).

Every sub-expression compiles to ordered branches `(condition, value)`; a value is a Python
constant or a SQL expression of a static kind that is never NULL. `_when` folds branches into one
boolean, `_fold` builds sums and concatenations; both are loops, linear in their input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Float, and_, case, false, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from engine.facts import FactContext
from engine.jsonlogic import to_number


class NotCompilable(Exception):
    """The condition cannot be one SQL expression; `code` + `params` say why (rule becomes event-only)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code} {params}")
        self.code = code
        self.params = params


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
