"""Read every designed field once per order, not once per rule that mentions it (PostgreSQL).

Why this exists: a JSON read (`data -> 'weight'`, its type check, the cast) costs more than the
rest of a rule's condition: twenty rules on `data.weight` read it sixty times per order (18 s for
20 rules at 1 M orders, against 6 s hoisted; docs/benchmarks.md). Pure SQLAlchemy core: it
rewrites compiled conditions (engine/rules/compiler.py) over a derived table; the caller runs it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, Table, func, literal, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import Label
from sqlalchemy.sql.selectable import ScalarSelect

from engine.facts import FactType
from engine.facts.sql import JsonValue

__all__ = ["hoist_json"]


def _json_key(element: Any, index: int) -> str:
    return list(element.clauses)[index].value


def _is_text_equals(element: Any) -> bool:
    return getattr(element, "name", None) == "json_text_equals"  # engine.rules.compiler_sql.JsonTextEquals


def hoist_json(orders: Table, matches: Sequence[Any], where: Any,
               joined: tuple[Any, Mapping[str, Any]] | None = None) -> tuple[Any, list[Any]]:
    """The reads move into a derived table of the `orders` rows `where` selects: per field its type
    check and its typed value (NULL when the JSON type differs). The conditions then compare
    columns: a raw read becomes the guarded value, the same wherever the compiler uses it (only
    behind its type check), and a text equality compares the typed text.

    `clock_timestamp()`, a volatile function, keeps PostgreSQL from folding the derived table back
    into the query (and so copying each read into every rule) while still letting parallel
    workers scan it, which `OFFSET 0` would not. `joined` = (a FROM clause holding `orders`, name ->
    column of it): facts stored in another table (the prediction), which the conditions read as
    correlated scalar subqueries labelled with the fact's name; the derived table selects them
    from that join instead (one hash join, not a probe per order and fact). Returns (the derived
    table, the rewritten matches)."""
    wanted: dict[tuple[str, str, Any], Any] = {}

    def need(key: str, kind: Any) -> None:
        wanted.setdefault(("guard", key, kind), JsonValue(orders.c.data, key, kind, "guard"))
        wanted.setdefault(("value", key, kind), JsonValue(orders.c.data, key, kind, "value"))

    def collect(element: Any) -> None:
        if isinstance(element, JsonValue):
            need(_json_key(element, 2), element.kind)
        elif _is_text_equals(element):
            need(_json_key(element, 1), FactType.STRING)
        else:
            for child in element.get_children():
                collect(child)

    for match in matches:
        collect(match)
    names = {spec: f"h{i}" for i, spec in enumerate(wanted)}
    source, extra = joined if joined is not None else (orders, {})
    table = select(*orders.c, *[column.label(name) for name, column in extra.items()],
                   *[expr.label(names[spec]) for spec, expr in wanted.items()],
                   func.clock_timestamp().label("fence")).select_from(source).where(where).subquery("o")

    def replace(element: Any) -> Any:
        if isinstance(element, JsonValue):
            part = "guard" if element.part == "guard" else "value"
            return table.c[names[(part, _json_key(element, 2), element.kind)]]
        if _is_text_equals(element):
            text = json.loads(list(element.clauses)[2].value)  # the constant, as JSON text
            value = table.c[names[("value", _json_key(element, 1), FactType.STRING)]]
            return func.coalesce(value == literal(text, String), False)
        if getattr(element, "table", None) is orders:
            return table.c[element.name]
        if isinstance(element, Label) and element.name in extra and isinstance(element.element, ScalarSelect):
            return table.c[element.name]
        return None

    return table, [visitors.replacement_traverse(m, {}, replace) for m in matches]
