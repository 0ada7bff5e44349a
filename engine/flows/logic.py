"""Branch conditions: the project's JSON-logic (engine/jsonlogic.py) over an order's facts.

This module only adapts: a condition must be an operation (or a literal boolean) to count as
JSON-logic here, and facts may arrive flat (`{"data.qty": 3}`) or nested (`{"data": {"qty": 3}}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import jsonlogic


def condition_problems(logic: Any) -> list[str]:
    """Why `logic` is not a usable JSON-logic condition (empty list: it is)."""
    if isinstance(logic, bool):
        return []
    if not isinstance(logic, dict):
        return ["logic.not_an_operation"]
    problems = []
    for issue in jsonlogic.validate_logic(logic):
        detail = issue.params.get("operator") or issue.params.get("keys") or issue.params.get("name")
        problems.append(f"{issue.code}:{detail}" if detail else issue.code)
    return problems


def variables(logic: Any) -> set[str]:
    """Field names the condition reads."""
    return jsonlogic.var_names(logic)


def truthy(logic: Any, facts: Mapping[str, Any]) -> bool:
    """Evaluate a condition over facts; dotted names reach into `data` (`data.qty`)."""
    if isinstance(logic, bool):
        return logic
    return jsonlogic.matches(logic, _nest(facts))


def _nest(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Facts may arrive flat (`{"data.qty": 3}`) or nested (`{"data": {"qty": 3}}`)."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if "." in key:
            head, _, rest = key.partition(".")
            bucket = out.setdefault(head, {})
            if isinstance(bucket, dict):
                bucket.setdefault(rest, value)
        else:
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**value, **out[key]}
            else:
                out[key] = value
    return out


def fact(facts: Mapping[str, Any], name: str) -> Any:
    """A fact by dotted name, from flat or nested facts (None when absent)."""
    if name in facts:
        return facts[name]
    current: Any = facts
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current
