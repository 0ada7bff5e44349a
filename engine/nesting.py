"""How deeply a designer's JSON nests, measured without recursion (a hostile depth must not exhaust
the stack of whatever reads it next: deepcopy, pydantic, the JSON column's serialiser)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_NESTING = 64  # containers nested anywhere in a stored definition (conditions included)


def nested_deeper_than(raw: Any, limit: int = MAX_NESTING) -> bool:
    stack: list[tuple[Any, int]] = [(raw, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
