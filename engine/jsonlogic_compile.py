"""JSON-logic compiled to Python closures: the interpreter's answers, without re-walking the JSON.

Why this exists: the event path evaluates every listening rule's condition on every order change
(100 rules: 100 walks of the same JSON per change). `engine.jsonlogic_apply.apply` dispatches on
the operator's name at every node of every evaluation; here a condition is turned once into a tree
of closures, each node knowing its operator and its compiled arguments, and evaluating it is
calling the root with the facts.

Exactly the interpreter's semantics, by construction: every node does what `apply` does with
`engine.jsonlogic.OPERATORS` for that node (the same operator functions are called; the few hot
nodes that are inlined — `var` of a constant name, the comparisons, `==`, `!`, `!!`, `in`,
`and` / `or` — take their inline path only for the types where the operator's own first branch
answers, and call the operator otherwise). Literal lists are rebuilt on every evaluation (the
interpreter returns a fresh list, and `==` on lists is identity); any other literal is returned as
the same object, as `apply` does. An unknown operator still evaluates its arguments, then raises
`ReferenceError`. tests/engine/test_jsonlogic_compile.py holds the two to each other over the
conformance suite and generated conditions × facts.

Compiling does not bound anything: conditions are bounded (engine/rules/limits.py: nesting,
size) before they are stored, and compiling recurses as deep as evaluating does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from json_logic.builtins import not_, op_var, to_bool

from engine.jsonlogic import OPERATORS, js_compare, js_equals
from engine.jsonlogic_apply import _iterate, _val, path_exists

__all__ = ["compile_logic", "compiled_matches"]

Compiled = Callable[[Any], Any]
_EXACT = 2**53
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_SCOPED = ("filter", "map", "reduce", "all", "some", "none")


def compile_logic(logic: Any) -> Compiled:
    """`logic` as a function of the facts, returning what `engine.jsonlogic.evaluate` returns."""
    if isinstance(logic, list):
        items = [compile_logic(item) for item in logic]
        return lambda data: [item(data) for item in items]
    if not isinstance(logic, dict) or len(logic) != 1:
        return lambda data: logic
    op, raw = next(iter(logic.items()))
    args = raw if isinstance(raw, list) else [raw]
    if op in ("if", "?:"):
        return _if([compile_logic(a) for a in args])
    if op in ("and", "or"):
        return _and_or(op == "or", [compile_logic(a) for a in args])
    if op == "??":
        return _coalesce([compile_logic(a) for a in args])
    if op in _SCOPED:
        return _scoped(op, args)
    parts = [compile_logic(a) for a in args]
    if op == "val":
        return lambda data: _val(data, [p(data) for p in parts])
    if op == "exists":
        return lambda data: path_exists(data, [p(data) for p in parts])
    function = OPERATORS.get(op)
    if function is None:
        def unknown(data: Any) -> Any:
            [p(data) for p in parts]  # the interpreter evaluates the arguments first
            raise ReferenceError(f"Unrecognized operation: {op!r}")
        return unknown
    fast = _inline(op, args, parts)
    if fast is not None:
        return fast
    return _call(function, parts)


def compiled_matches(logic: Any) -> Callable[[Any], bool]:
    """`engine.jsonlogic.matches(logic, facts)` as a function of the facts."""
    run = compile_logic(logic)
    return lambda data: to_bool(run(data))


def _call(function: Callable[..., Any], parts: list[Compiled]) -> Compiled:
    if len(parts) == 1:
        (a,) = parts
        return lambda data: function(data, a(data))
    if len(parts) == 2:
        a, b = parts
        return lambda data: function(data, a(data), b(data))
    return lambda data: function(data, *[p(data) for p in parts])


def _if(parts: list[Compiled]) -> Compiled:
    def run(data: Any) -> Any:
        index, count = 0, len(parts)
        while index < count - 1:
            if to_bool(parts[index](data)):
                return parts[index + 1](data)
            index += 2
        return parts[index](data) if index < count else None

    return run


def _and_or(is_or: bool, parts: list[Compiled]) -> Compiled:
    if len(parts) == 2 and not is_or:
        a, b = parts

        def both(data: Any) -> Any:
            current = a(data)
            if not to_bool(current):
                return current
            return b(data)

        return both

    def run(data: Any) -> Any:
        current = None
        for part in parts:
            current = part(data)
            if to_bool(current) is is_or:
                return current
        return current

    return run


def _coalesce(parts: list[Compiled]) -> Compiled:
    def run(data: Any) -> Any:
        for part in parts:
            current = part(data)
            if current is not None:
                return current
        return None

    return run


def _scoped(op: str, args: list[Any]) -> Compiled:
    """filter / map / reduce / all / some / none: the interpreter's own loop (the sub-condition is
    evaluated per item over data the loop builds; compiled once, it is interpreted per item here
    only when the loop runs, which rule conditions rarely do)."""
    return lambda data: _iterate(op, args, data, OPERATORS)


def _inline(op: str, args: list[Any], parts: list[Compiled]) -> Compiled | None:
    """A faster node for the common shapes, or None for the operator's own function."""
    if op == "var" and len(args) == 1 and type(args[0]) is str and args[0] != "":
        return _var(args[0])
    if op in _COMPARE and len(parts) == 2:
        return _compare(op, *parts)
    if op == "==" and len(parts) == 2:
        a, b = parts
        return lambda data: js_equals(a(data), b(data))
    if op == "!=" and len(parts) == 2:
        a, b = parts
        return lambda data: not js_equals(a(data), b(data))
    if op == "!" and len(parts) == 1:
        (a,) = parts
        return lambda data: not_(a(data))
    if op == "!!" and len(parts) == 1:
        (a,) = parts
        return lambda data: to_bool(a(data))
    return None


def _var(name: str) -> Compiled:
    """`{"var": name}`: `op_var` walks dicts by the dotted name's parts; anything else (a list, a
    string, a number on the way) goes to `op_var` itself."""
    props = name.split(".")
    if len(props) == 1:
        def one(data: Any) -> Any:
            if type(data) is dict:
                return data.get(name)
            return op_var(data, name)

        return one

    def dotted(data: Any) -> Any:
        current = data
        for prop in props:
            if type(current) is dict:
                current = current.get(prop)
            elif current is None:
                return None  # op_var: None is neither list, str nor dict: the default
            else:
                return op_var(data, name)
        return current

    return dotted


def _compare(op: str, a: Compiled, b: Compiled) -> Compiled:
    """The relational operators with two arguments: `js_compare`'s own fast path inline (same
    type: float, str, or int within ±2^53; a float and an int within ±2^53, which `js_compare`
    compares as the same two numbers), `js_compare` for the rest."""
    compare = _COMPARE[op]

    def run(data: Any) -> bool:
        x, y = a(data), b(data)
        kind, other = type(x), type(y)
        if kind is other:
            if kind is float or kind is str or kind is int and -_EXACT <= x <= _EXACT and -_EXACT <= y <= _EXACT:
                return compare(x, y)
        elif kind is float and other is int:  # a float fact against a whole-number constant
            if -_EXACT <= y <= _EXACT:
                return compare(x, y)  # js_compare: Number(y) is y itself; NaN compares false in both
        elif kind is int and other is float and -_EXACT <= x <= _EXACT:
            return compare(x, y)
        return js_compare(op, x, y)

    return run

