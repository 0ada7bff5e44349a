"""The JSON-logic interpreter: control flow (lazy operators and iterators) over an operator table.

Why our own: panzi-json-logic's `apply` evaluates `reduce`'s initial value as a constant (a
computed one is returned as the rule itself) and knows nothing of the newer community operators
business rules want: `??` (the first argument that is not null, lazily), `val` (a path given as
segments, so keys may hold dots) and `exists` (the path is present, even when null). Everything
else follows panzi's `apply`, which the classic suite (277/277) holds to JavaScript's answers.
Operators that need only their evaluated arguments live in `engine.jsonlogic.OPERATORS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from json_logic.builtins import to_bool

__all__ = ["apply", "path_exists", "path_value"]

_MISSING = object()


def path_value(data: Any, segments: list[Any]) -> Any:
    """The value at a path of keys / list indexes, or _MISSING."""
    current = data
    for segment in segments:
        if isinstance(current, dict) and isinstance(segment, str) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and isinstance(segment, int) and not isinstance(segment, bool) \
                and 0 <= segment < len(current):
            current = current[segment]
        elif isinstance(current, list) and isinstance(segment, str) and segment.isdigit() \
                and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return _MISSING
    return current


def _segments(args: list[Any]) -> list[Any]:
    """`{"val": "a"}`, `{"val": ["a", "b"]}` and `{"val": [["a", "b"]]}` name the same path."""
    if len(args) == 1 and isinstance(args[0], list):
        return list(args[0])
    return list(args)


def path_exists(data: Any, args: list[Any]) -> bool:
    return bool(args) and path_value(data, _segments(args)) is not _MISSING


def _val(data: Any, args: list[Any]) -> Any:
    found = path_value(data, _segments(args))
    return None if found is _MISSING else found


def _items(logic: Any, data: Any, operations: Mapping[str, Callable[..., Any]]) -> Any:
    return apply(logic, data, operations)


def _iterate(op: str, args: list[Any], data: Any, operations: Mapping[str, Callable[..., Any]]) -> Any:
    items = _items(args[0], data, operations) if args else None
    sub = args[1] if len(args) > 1 else None
    if op == "reduce":
        initial = apply(args[2], data, operations) if len(args) > 2 else None  # computed, like JavaScript
        if not isinstance(items, list):
            return initial
        accumulator = initial
        for item in items:
            accumulator = apply(sub, {"current": item, "accumulator": accumulator}, operations)
        return accumulator
    if not isinstance(items, list):
        return {"filter": [], "map": [], "all": False, "some": False, "none": True}[op]
    if op == "filter":
        return [item for item in items if to_bool(apply(sub, item, operations))]
    if op == "map":
        return [apply(sub, item, operations) for item in items]
    if op == "all":
        return bool(items) and all(to_bool(apply(sub, item, operations)) for item in items)
    if op == "some":
        return any(to_bool(apply(sub, item, operations)) for item in items)
    return not any(to_bool(apply(sub, item, operations)) for item in items)


def apply(logic: Any, data: Any, operations: Mapping[str, Callable[..., Any]]) -> Any:
    """Evaluate a rule over data with the given operator table."""
    if isinstance(logic, list):
        return [apply(item, data, operations) for item in logic]
    if not isinstance(logic, dict) or len(logic) != 1:
        return logic
    op, raw = next(iter(logic.items()))
    args = raw if isinstance(raw, list) else [raw]
    if op in ("if", "?:"):
        index = 0
        while index < len(args) - 1:
            if to_bool(apply(args[index], data, operations)):
                return apply(args[index + 1], data, operations)
            index += 2
        return apply(args[index], data, operations) if index < len(args) else None
    if op in ("and", "or"):
        current = None
        for arg in args:
            current = apply(arg, data, operations)
            if to_bool(current) is (op == "or"):
                return current
        return current
    if op == "??":
        for arg in args:
            current = apply(arg, data, operations)
            if current is not None:
                return current
        return None
    if op in ("filter", "map", "reduce", "all", "some", "none"):
        return _iterate(op, args, data, operations)
    values = [apply(arg, data, operations) for arg in args]
    if op == "val":
        return _val(data, values)
    if op == "exists":
        return path_exists(data, values)
    if op in operations:
        return operations[op](data, *values)
    raise ReferenceError(f"Unrecognized operation: {op!r}")
