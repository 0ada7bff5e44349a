"""Auto-decisions on approval nodes: the condition, its problems, its words, and the decision.

Why this exists: an approval node may approve by itself when a JSON-logic condition over the
order's facts holds (docs/decisions-auto.md). The same function decides live (nodes.py, as the
order reaches the node) and in the back-test (backend/flows/autodecide.py, over facts rebuilt as
they were then), so the figures a manager reads before switching it on are the engine's own.

A condition that is too large, not JSON-logic, reads a fact the order does not have (yet), or fails
on an order's data never approves: the node falls back to its human approvers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.facts.catalogue import default_catalogue
from engine.flows.logic import condition_problems, fact, truthy, variables
from engine.rules.limits import condition_issues, value_issues

__all__ = ["AutoOutcome", "condition_words", "decide", "problems", "undoable"]


@dataclass(frozen=True)
class AutoOutcome:
    approve: bool
    problem: str | None = None  # why the condition could not be evaluated (then: a person decides)


def problems(condition: Any) -> list[str]:
    """Why `condition` cannot be an auto-approval condition (empty: it can)."""
    if condition is None or condition == {} or condition is True or condition is False:
        return ["flow.auto_condition_empty"]
    bounded = value_issues(condition, "condition") or condition_issues(condition)
    if bounded:
        return [issue.code for issue in bounded]
    return condition_problems(condition)


def decide(auto: Any, facts: Mapping[str, Any]) -> AutoOutcome:
    """Whether the node approves by itself on these facts (never raises)."""
    if auto is None or not getattr(auto, "enabled", False):
        return AutoOutcome(False)
    found = problems(auto.condition)
    if found:
        return AutoOutcome(False, found[0])
    # a fact it reads is missing (no on-time rate yet, no prediction): JSON-logic would read it as 0
    # ("null < 0.1" holds), so the system does not decide on it; a person does
    missing = sorted(name for name in variables(auto.condition) if fact(facts, name) is None)
    if missing:
        return AutoOutcome(False, f"flow.auto_fact_missing:{','.join(missing)[:200]}")
    try:
        return AutoOutcome(bool(truthy(auto.condition, facts)))
    except Exception as exc:  # noqa: BLE001 - a condition that fails on this data leaves it to people
        return AutoOutcome(False, f"flow.auto_condition_failed:{type(exc).__name__}")


_OPS = {
    "<": ("<", "<"), "<=": ("≤", "≤"), ">": (">", ">"), ">=": ("≥", "≥"), "==": ("=", "="),
    "===": ("=", "="), "!=": ("≠", "≠"), "!==": ("≠", "≠"), "in": ("属于", "in"),
}
_JOIN = {"and": (" 且 ", " and "), "or": (" 或 ", " or ")}
_MAX_WORDS = 600


def _label(name: str, zh: bool) -> str:
    catalogue = default_catalogue()
    if name in catalogue:
        spec = catalogue[name]
        return (spec.label_zh if zh else spec.label_en) or name
    return name


def _words(node: Any, zh: bool, depth: int = 0) -> str:
    if depth > 16:
        return "…"
    if isinstance(node, dict) and len(node) == 1:
        op, args = next(iter(node.items()))
        if op == "var":
            name = args[0] if isinstance(args, list) and args else args
            return _label(str(name), zh)
        args = args if isinstance(args, list) else [args]
        if op in _JOIN:
            return _JOIN[op][0 if zh else 1].join(
                f"({_words(a, zh, depth + 1)})" if isinstance(a, dict) and next(iter(a), "") in _JOIN
                else _words(a, zh, depth + 1) for a in args)
        if op in ("!", "not"):
            return ("并非 " if zh else "not ") + _words(args[0] if args else None, zh, depth + 1)
        if op in _OPS and len(args) == 2:
            return f"{_words(args[0], zh, depth + 1)} {_OPS[op][0 if zh else 1]} {_words(args[1], zh, depth + 1)}"
        if op in ("<", "<=") and len(args) == 3:
            sign = _OPS[op][0]
            return " ".join((_words(args[0], zh, depth + 1), sign, _words(args[1], zh, depth + 1), sign,
                             _words(args[2], zh, depth + 1)))
        return f"{op}({', '.join(_words(a, zh, depth + 1) for a in args)})"
    if isinstance(node, str):
        return f"“{node}”"
    if isinstance(node, bool):
        return ("是" if node else "否") if zh else str(node).lower()
    if isinstance(node, list):
        return "[" + ", ".join(_words(a, zh, depth + 1) for a in node[:20]) + "]"
    if node is None:
        return "空" if zh else "empty"
    return str(node)


def condition_words(condition: Any) -> dict[str, str]:
    """The condition in words, per locale: {"zh-CN": "金额 < 5000 且 …", "en": "Amount < 5000 and …"}."""
    if problems(condition):
        return {"zh-CN": "（条件无效）", "en": "(invalid condition)"}
    out = {}
    for locale, zh in (("zh-CN", True), ("en", False)):
        text = _words(condition, zh)
        out[locale] = text if len(text) <= _MAX_WORDS else text[:_MAX_WORDS] + "…"
    return out


def undoable(state: Any) -> list[str]:
    """Approval nodes of a running instance whose latest visit the system auto-approved (a person may
    undo those now: `UndoAutoApproval`)."""
    if getattr(state, "status", None) != "running":
        return []
    latest: dict[str, str] = {}
    for entry in state.history:
        if entry.node_key and entry.action in ("auto_approved", "node_entered"):
            latest[entry.node_key] = entry.action
    return [key for key, action in latest.items() if action == "auto_approved" and key in state.completed]
