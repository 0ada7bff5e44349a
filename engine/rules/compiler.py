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

The compiler is split by concern: this module walks the condition (operators, facts, numbers);
`compiler_values` holds the compiled values and how branches fold into one expression;
`compiler_compare` compares two values (equality, order, `in`) as the evaluator does; and
`compiler_sql` the pieces whose SQL differs between SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Boolean, Float, Numeric, String, and_, false, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from engine.facts import Catalogue, FactContext, FactType, fact_sql
from engine.facts.sql import JsonValue, null_sql, source_column
from engine.jsonlogic import OPERATORS, is_truthy, to_number, val_name
from engine.rules.compiler_compare import _contains, _loose_equal, _relational, _strict_equal
from engine.rules.compiler_sql import Extreme, JsonArray
from engine.rules.compiler_values import (
    BOOL,
    DATE,
    DATETEXT,
    LIST,
    NUM,
    OPAQUE,
    STR,
    Branches,
    Const,
    NotCompilable,
    Sql,
    Value,
    _case_value,
    _conj,
    _const_bool,
    _fold,
    _is_null,
    _lit_num,
    _number_of,
    _when,
)
from engine.rules.relative import resolve as resolve_relative

__all__ = ["NotCompilable", "compile_condition"]


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
            null_cond = not_(JsonArray("is_array", expr))
        elif spec.source == "derived" and source_column(name, self.columns) is None:
            null_cond = null_sql(name, self.columns)  # read from two columns: no index range
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
            return JsonArray("non_empty", expr)
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
            expr = Extreme(op, *exprs) if len(exprs) > 1 else exprs[0]
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
    try:
        condition = resolve_relative(condition, ctx)  # `{"today": [-3]}` -> "2026-11-23"
    except ValueError as exc:
        raise NotCompilable(str(exc)) from exc
    return _Compiler(catalogue, columns, ctx).truth(condition)
