"""A rule condition compiled once and evaluated at a moment: `holds(condition, facts, ctx)`.

Why this exists: the event path asks `matches(resolve(condition, ctx), facts)` of every listening
rule on every order change; interpreting the same JSON a hundred times a change was most of the
change's CPU (docs/benchmarks.md, "ruleeval"). Here a parsed condition is compiled
(engine/jsonlogic_compile.py) the first time it is asked, and the compiled function is kept.

Relative dates (`{"today": …}`, `{"now": …}`, engine/rules/relative.py) are constants at a moment:
a condition with some is compiled once per distinct set of resolved constants (they move once a
day, or once a second for `now` with hours), so the answer is the interpreter's on
`resolve(condition, ctx)` exactly; a malformed relative date raises `ValueError` as `resolve` does.

The cache is keyed by the condition object's identity (the object is kept alive beside it), as
`relative._relative_once` is: a parsed rule's condition is never changed in place. Callers that
build a fresh condition per evaluation gain nothing here and should keep `matches`. Bounded: a
cache past `_LIMIT` entries starts over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.facts import FactContext
from engine.jsonlogic import matches as interpreted_matches
from engine.jsonlogic_compile import compiled_matches
from engine.rules.relative import RELATIVE_OPS, relative_value, resolve

__all__ = ["compiled_condition", "holds", "matches"]

_LIMIT = 5000
_MOMENTS = 8  # compiled variants kept per condition with relative dates


class CompiledCondition:
    """One condition: its compiled test, or its relative dates and the variants compiled so far."""

    __slots__ = ("condition", "plain", "relative", "variants")

    def __init__(self, condition: Any) -> None:
        self.condition = condition
        self.relative = _relative_nodes(condition)
        self.plain = None if self.relative else compiled_matches(condition)
        self.variants: dict[tuple[str, ...], Callable[[Any], bool]] = {}

    def matches(self, facts: Any) -> bool:
        """`engine.jsonlogic.matches(condition, facts)`, the condition as it is (a relative date
        left in it is an unknown operator there: the interpreter answers, and raises)."""
        if self.plain is not None:
            return self.plain(facts)
        return interpreted_matches(self.condition, facts)

    def holds(self, facts: Any, ctx: FactContext) -> bool:
        """`matches(resolve(condition, ctx), facts)`."""
        if self.plain is not None:
            return self.plain(facts)
        moment = tuple(relative_value(op, raw, ctx) for op, raw in self.relative)
        test = self.variants.get(moment)
        if test is None:
            if len(self.variants) >= _MOMENTS:
                self.variants = {}
            test = self.variants[moment] = compiled_matches(resolve(self.condition, ctx))
        return test(facts)


_CACHE: dict[int, CompiledCondition] = {}


def compiled_condition(condition: Any) -> CompiledCondition:
    """The compiled form of a parsed (never mutated) condition, compiled on first use."""
    found = _CACHE.get(id(condition))
    if found is not None and found.condition is condition:
        return found
    if len(_CACHE) > _LIMIT:
        _CACHE.clear()
    found = CompiledCondition(condition)
    if isinstance(condition, (dict, list)):  # a scalar's id may be shared or reused: not kept
        _CACHE[id(condition)] = found
    return found


def holds(condition: Any, facts: Any, ctx: FactContext) -> bool:
    """`engine.jsonlogic.matches(relative.resolve(condition, ctx), facts)`, compiled once per
    condition object."""
    return compiled_condition(condition).holds(facts, ctx)


def matches(condition: Any, facts: Any) -> bool:
    """`engine.jsonlogic.matches(condition, facts)`, compiled once per condition object (for
    conditions already resolved, or that hold no relative date: the time-rule index's other terms)."""
    return compiled_condition(condition).matches(facts)


def _relative_nodes(condition: Any) -> tuple[tuple[str, Any], ...]:
    """The (operator, arguments) of each relative date `resolve` would replace, in its order."""
    found: list[tuple[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict) and len(node) == 1:
            op, raw = next(iter(node.items()))
            if op in RELATIVE_OPS:
                found.append((op, raw))
            else:
                walk(raw)

    walk(condition)
    return tuple(found)
