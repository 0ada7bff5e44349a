"""JSON-logic in forms: checking an expression, finding the fields it reads, evaluating it.

Why a checker of our own: JSON-logic libraries evaluate anything and fail late (an unknown
operator raises only when reached, a typo in a `var` silently yields null). Publishing must refuse
both up front and name the field, and the dependency graph needs the exact set of fields an
expression reads. Operators and arity are checked by the project's `engine.jsonlogic.validate_logic`;
on top of it this checker is scope-aware: inside `map` / `filter` / `all` / `some` / `none` over a
line-items field, `var` names a column of the row; inside `reduce`, `current.<column>` and
`accumulator`. Evaluation is `engine.jsonlogic.evaluate` (JavaScript semantics, the same answers
as rules and flow conditions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine import jsonlogic
from engine.forms.definition import FieldType, FormField
from engine.forms.issues import Issue

ITERATING = frozenset({"filter", "map", "all", "some", "none"})
ORDER_CONTEXT = {"stage": "string"}
"""Facts of the order, not fields of the form, that a form expression may read (`{"var": "stage"}`:
"shown from the production stage on"). The caller passes their values to `validate_data(context=)`;
a field of the same key wins over them."""
_LOGIC_CODES = {
    "logic.unknown_operator": "form.expression_unknown_operator",
    "logic.bad_arity": "form.expression_arity",
    "logic.bad_var": "form.expression_dynamic_var",
    "logic.object_not_operation": "form.expression_invalid",
    "logic.type_mismatch": "form.expression_type_mismatch",
}
_LOGIC_TYPES = {
    "date": "date", "datetime": "datetime", "number": "number", "money": "number", "percent": "number",
    "checkbox": "bool", "multi_select": "list", "line_items": "list", "attachment": "list", "image": "list",
}


def _logic_types(scope: Scope) -> dict[str, str] | None:
    """Field name -> JSON-logic type, so `validate_logic` can refuse a date compared with a number."""
    if scope.kind not in ("form", "row"):
        return None
    out = {}
    for key, f in scope.fields.items():
        kind = (f.result_type or "number") if f.type == FieldType.COMPUTED else f.type.value
        out[key] = _LOGIC_TYPES.get(kind, "string")
    if scope.kind == "form":
        out = {**ORDER_CONTEXT, **out}
    return out

MAX_EXPRESSION_NODES = 500
MAX_EXPRESSION_DEPTH = 32


@dataclass(frozen=True)
class Scope:
    """What a `var` may name at this point of an expression."""

    kind: Literal["form", "row", "reduce", "opaque"]
    fields: Mapping[str, FormField] = field(default_factory=dict)


@dataclass
class ExpressionCheck:
    issues: list[Issue] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)
    """Keys (top-level fields, or columns for a row scope) the expression reads."""
    nodes: int = 0


def check_expression(expr: Any, scope: Scope, path: str) -> ExpressionCheck:
    """Every problem in `expr` (unknown operator, unknown field, dynamic var, too big) and the
    fields it reads. `path` prefixes issue paths (`fields[3].expression`)."""
    result = ExpressionCheck()
    for issue in jsonlogic.validate_logic(expr, _logic_types(scope), path=path):
        if issue.code == "logic.unknown_field":
            continue  # reported by the scope-aware walk below, with line-item columns understood
        code = _LOGIC_CODES.get(issue.code, "form.expression_invalid")
        params = dict(issue.params)
        if code == "form.expression_type_mismatch":
            params = {"name": params.get("field"), "type": params.get("type"), "value": params.get("value")}
        elif code == "form.expression_invalid":
            params = {"detail": issue.code}
        elif code == "form.expression_dynamic_var":
            params = {"operator": "var"}
        result.issues.append(Issue(issue.path, code, params))
    _walk(expr, scope, path, result, depth=0)
    if result.nodes > MAX_EXPRESSION_NODES:
        result.issues.append(
            Issue(path, "form.expression_too_large", {"nodes": result.nodes, "max": MAX_EXPRESSION_NODES})
        )
    return result


def _walk(expr: Any, scope: Scope, path: str, out: ExpressionCheck, depth: int) -> None:
    out.nodes += 1
    if depth > MAX_EXPRESSION_DEPTH:
        if not any(i.code == "form.expression_too_deep" for i in out.issues):
            out.issues.append(Issue(path, "form.expression_too_deep", {"max": MAX_EXPRESSION_DEPTH}))
        return
    if isinstance(expr, list):
        for item in expr:
            _walk(item, scope, path, out, depth + 1)
        return
    if not isinstance(expr, dict):
        return
    if len(expr) != 1:
        return  # reported by validate_logic
    op, args = next(iter(expr.items()))
    if op not in jsonlogic.ARITY:
        return  # reported by validate_logic
    if not isinstance(args, list):
        args = [args]
    if op == "var":
        _check_var(args, scope, path, out)
    elif op in ("missing", "missing_some"):
        names = args[1] if op == "missing_some" and len(args) > 1 else args
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            for name in names:
                _check_name(name, scope, path, out)
        else:
            out.issues.append(Issue(path, "form.expression_dynamic_var", {"operator": op}))
    elif op in ITERATING or op == "reduce":
        if len(args) < 2:
            return  # reported by validate_logic
        _walk(args[0], scope, path, out, depth + 1)
        columns = _item_columns(args[0], scope)
        if op == "reduce":
            inner = Scope("reduce", columns) if columns is not None else Scope("opaque")
            _walk(args[1], inner, path, out, depth + 1)
            for rest in args[2:]:
                _walk(rest, scope, path, out, depth + 1)
        else:
            inner = Scope("row", columns) if columns is not None else Scope("opaque")
            for rest in args[1:]:
                _walk(rest, inner, path, out, depth + 1)
    else:
        for arg in args:
            _walk(arg, scope, path, out, depth + 1)


def _check_var(args: list[Any], scope: Scope, path: str, out: ExpressionCheck) -> None:
    name = args[0] if args else None
    for extra in args[1:]:
        _walk(extra, scope, path, out, 1)
    if name is None or name == "":
        return  # the whole current item: fine in a row scope, opaque elsewhere
    if isinstance(name, int | float) and not isinstance(name, bool):
        name = str(name)
    if isinstance(name, dict):
        out.issues.append(Issue(path, "form.expression_dynamic_var", {"operator": "var"}))
        return
    if not isinstance(name, str):
        return  # reported by validate_logic
    _check_name(name, scope, path, out)


def _check_name(name: str, scope: Scope, path: str, out: ExpressionCheck) -> None:
    head, _, rest = name.partition(".")
    if scope.kind == "opaque":
        return
    if scope.kind == "reduce":
        if head == "accumulator" and not rest:
            return
        if head == "current":
            if not rest:
                return
            head = rest.partition(".")[0]
        else:
            out.issues.append(Issue(path, "form.expression_unknown_field", {"name": name}))
            return
    if head not in scope.fields:
        if scope.kind == "form" and name in ORDER_CONTEXT:
            return  # an order fact, not a field: no dependency edge
        out.issues.append(Issue(path, "form.expression_unknown_field", {"name": name}))
        return
    if scope.kind == "form":
        out.refs.add(head)
    elif scope.kind == "row":
        out.refs.add(head)


def _item_columns(array_expr: Any, scope: Scope) -> dict[str, FormField] | None:
    """The columns of the rows an array expression yields, when that is known statically."""
    if not isinstance(array_expr, dict) or len(array_expr) != 1:
        return None
    op, args = next(iter(array_expr.items()))
    if not isinstance(args, list):
        args = [args]
    if op == "var" and scope.kind == "form" and args and isinstance(args[0], str):
        f = scope.fields.get(args[0])
        if f is not None and f.type == FieldType.LINE_ITEMS:
            return {c.key: c for c in f.columns}
    if op == "filter" and args:
        return _item_columns(args[0], scope)
    return None


class ExpressionFailed(Exception):
    """Evaluation raised (division by zero, a bad operand); the caller decides what it means."""


def is_truthy(value: Any) -> bool:
    return jsonlogic.is_truthy(value)


def evaluate(expr: Any, data: Mapping[str, Any]) -> Any:
    """Evaluate a checked expression against `data` (plain JSON values)."""
    try:
        return jsonlogic.evaluate(expr, data if isinstance(data, dict) else dict(data))
    except (ArithmeticError, TypeError, ValueError, ReferenceError, IndexError, KeyError) as exc:
        raise ExpressionFailed(str(exc)) from exc
