"""Relative dates in rule conditions: `{"today": [-3]}`, `{"today": [-3, "working_days"]}`, `{"now": [-48, "hours"]}`.

Why this exists: "production done more than 3 days ago" and "1 day after 签收日期" compare a date
field with a date that moves with time. JSON-logic has no clock, and the engine reads none, so the
rule holds an operator that names an offset from the moment of evaluation, and `resolve` turns it
into a constant (an ISO date for `today`, an ISO UTC datetime for `now`) given `FactContext`
before anything evaluates or compiles the condition. Both renderings then see the same constant:
the evaluator compares ISO text, the compiler a range on the column (index-friendly).

- `{"today": [n, unit]}`: the business's local date moved by n `days` (default) or
  `working_days` (days the business calendar works: Monday − 1 working day is Friday);
- `{"now": [n, unit]}`: the moment moved by n `days` (24 h, default) or `hours`; compare it with a
  datetime field (`stage_entered_at`, `created_at`, ...).

n is a whole number with |n| ≤ MAX_OFFSET[unit] (ten years); anything else is an issue
(`rule.relative_date_invalid`, `rule.relative_date_out_of_range`), never an evaluation error.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from engine.facts import FactContext
from engine.jsonlogic import Issue

__all__ = ["MAX_OFFSET", "RELATIVE_OPS", "has_relative", "relative_issues", "relative_value", "resolve"]

#: operator -> the units it takes (the first is the default)
RELATIVE_OPS: dict[str, tuple[str, ...]] = {"today": ("days", "working_days"), "now": ("days", "hours")}
#: unit -> the largest offset (ten years): a bounded loop for working days, a representable date
MAX_OFFSET: dict[str, int] = {"days": 3650, "working_days": 2600, "hours": 87600}


def _args(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [raw]


def _problem(op: str, raw: Any) -> tuple[str, dict[str, Any]] | None:
    """Why `{op: raw}` is not a relative date, or None when it is one."""
    args = _args(raw)
    units = RELATIVE_OPS[op]
    if len(args) > 2 or (len(args) == 2 and args[1] not in units):
        return "rule.relative_date_invalid", {"operator": op, "units": ", ".join(units)}
    offset = args[0] if args else 0
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or offset != int(offset):
        return "rule.relative_date_invalid", {"operator": op, "units": ", ".join(units)}
    unit = args[1] if len(args) == 2 else units[0]
    if abs(int(offset)) > MAX_OFFSET[unit]:
        return "rule.relative_date_out_of_range", {"offset": int(offset), "max": MAX_OFFSET[unit], "unit": unit}
    return None


def _walk(node: Any, path: str, visit) -> Any:
    """Rebuild `node`, letting `visit(op, raw, path)` replace relative operators. Conditions are
    bounded (engine/rules/limits.py: nesting 16) before anything calls this."""
    if isinstance(node, list):
        return [_walk(item, f"{path}.{i}" if path else str(i), visit) for i, item in enumerate(node)]
    if isinstance(node, dict) and len(node) == 1:
        op, raw = next(iter(node.items()))
        here = f"{path}.{op}" if path else op
        if op in RELATIVE_OPS:
            return visit(op, raw, here)
        return {op: _walk(raw, here, visit)}
    return node


def has_relative(condition: Any) -> bool:
    """Whether `resolve` would replace anything: `_walk`'s descent without building paths or a
    copy (the event path asks it of every listening rule on every order change)."""
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict) and len(node) == 1:
            op, raw = next(iter(node.items()))
            if op in RELATIVE_OPS:
                return True
            stack.append(raw)
    return False


def relative_issues(condition: Any, path: str = "condition") -> list[Issue]:
    """Every malformed relative date in the condition, with its path."""
    issues: list[Issue] = []

    def visit(op: str, raw: Any, here: str) -> Any:
        problem = _problem(op, raw)
        if problem is not None:
            issues.append(Issue(here, problem[0], problem[1]))
        return None

    _walk(condition, path, visit)
    return issues


def _shift_working_days(day: date, count: int, ctx: FactContext) -> date:
    step = 1 if count > 0 else -1
    left = abs(count)
    for _ in range(MAX_OFFSET["working_days"] * 7 + 400):  # a calendar without working days stops here
        if left == 0:
            break
        day += timedelta(days=step)
        if ctx.calendar.is_working_day(day):
            left -= 1
    return day


def relative_value(op: str, raw: Any, ctx: FactContext) -> str:
    """The constant a well-formed relative date stands for at `ctx.now` (see `relative_issues`)."""
    problem = _problem(op, raw)
    if problem is not None:
        raise ValueError(problem[0])
    args = _args(raw)
    offset = int(args[0]) if args else 0
    unit = args[1] if len(args) == 2 else RELATIVE_OPS[op][0]
    if op == "today":
        if unit == "working_days":
            return _shift_working_days(ctx.today, offset, ctx).isoformat()
        return (ctx.today + timedelta(days=offset)).isoformat()
    moved = ctx.now.astimezone(UTC).replace(microsecond=0) + (
        timedelta(hours=offset) if unit == "hours" else timedelta(days=offset))
    return moved.isoformat()


_SEEN: dict[int, tuple[Any, bool]] = {}  # id(condition) -> (the condition, kept alive; has_relative)


def _relative_once(condition: Any) -> bool:
    """`has_relative` once per condition object: a parsed rule's condition is asked again on every
    change of every order (the event path: 100 listening rules, one walk each per change)."""
    seen = _SEEN.get(id(condition))
    if seen is not None and seen[0] is condition:
        return seen[1]
    if len(_SEEN) > 5000:
        _SEEN.clear()
    found = has_relative(condition)
    if isinstance(condition, (dict, list)):  # conditions are not changed in place once parsed
        _SEEN[id(condition)] = (condition, found)
    return found


def resolve(condition: Any, ctx: FactContext) -> Any:
    """The condition with every relative date replaced by its constant at `ctx.now` (the same
    object when there is none, so plain conditions cost nothing)."""
    if not _relative_once(condition):
        return condition
    return _walk(condition, "", lambda op, raw, here: relative_value(op, raw, ctx))
