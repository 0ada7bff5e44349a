"""How big a rule may be: checked before anything walks it recursively, compiles or stores it.

Why this exists: a rule's condition becomes part of the one-pass scan query that runs every rule
(backend/rules/scan.py). A condition the databases cannot parse stops every rule, and one that is
merely huge makes the compiler and the request that validates it slow. The limits below sit well
under both databases' own limits (SQLite: expression depth 1,000 and a parser stack of 100, hit by
45 nested `!`; PostgreSQL: 65,535 bind parameters per query, max_stack_depth) and above what a
business rule needs; docs/rules.md lists them.

Every check here is iterative (an explicit stack), so a hostile definition 100,000 levels deep
answers an issue, not a RecursionError. Values that cannot be stored faithfully are refused too:
Infinity and NaN (1e309 in JSON) would be saved as null, a lone surrogate cannot be encoded as
UTF-8, and NUL is refused by PostgreSQL and truncates SQLite's comparisons.
"""

from __future__ import annotations

import math
import re
from typing import Any

from engine.jsonlogic import Issue

__all__ = [
    "MAX_DEPTH",
    "MAX_IN_LIST",
    "MAX_NODES",
    "MAX_OPERANDS",
    "MAX_STRING",
    "condition_issues",
    "printable",
    "value_issues",
]

MAX_DEPTH = 16  # nested operators and lists in a condition
MAX_OPERANDS = 100  # arguments of one operator
MAX_IN_LIST = 500  # items of one constant list (`in`)
MAX_NODES = 2_000  # operators and constants in a condition
MAX_STRING = 1_000  # characters of one constant
MAX_DEFINITION_DEPTH = 64  # containers nested anywhere in a definition (the condition is bounded above)
_LARGEST = 1.7976931348623157e308  # the largest finite double


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def printable(value: Any) -> Any:
    """A stored definition with NUL and lone surrogates replaced by U+FFFD, so a row saved before
    they were refused can still be listed and shown (a response cannot encode a lone surrogate).
    Iterative; returns the value itself when nothing needs replacing."""
    if not value_issues(value):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        parent, key, node = stack.pop()
        if isinstance(node, str):
            parent[key] = _UNSTORABLE.sub("\ufffd", node)
        elif isinstance(node, dict):
            copy = {_UNSTORABLE.sub("\ufffd", k) if isinstance(k, str) else k: v for k, v in node.items()}
            parent[key] = copy
            stack.extend((copy, k, v) for k, v in copy.items())
        elif isinstance(node, list):
            copy = list(node)
            parent[key] = copy
            stack.extend((copy, i, v) for i, v in enumerate(copy))
    return root[0]


def _at(path: str, part: Any) -> str:
    return f"{path}.{part}" if path else str(part)


def _bad_character(text: str) -> str | None:
    """The first character that cannot be stored faithfully (NUL, a lone surrogate), as U+XXXX."""
    for ch in text:
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            return f"U+{ord(ch):04X}"
    return None


def _scalar_issue(value: Any, path: str) -> Issue | None:
    if isinstance(value, float) and not math.isfinite(value):
        return Issue(path, "rule.number_not_finite", {"value": repr(value)})
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST:
        return Issue(path, "rule.number_not_finite", {"value": f"{str(value)[:20]}…"})
    if isinstance(value, str):
        bad = _bad_character(value)
        if bad is not None:
            return Issue(path, "rule.text_bad_character", {"character": bad})
    return None


def value_issues(definition: Any, path: str = "") -> list[Issue]:
    """Values anywhere in a definition that would not be stored as given (non-finite numbers, NUL,
    lone surrogates, in values and keys), and nesting past MAX_DEFINITION_DEPTH. One issue per
    bad value; the walk is iterative."""
    issues: list[Issue] = []
    stack: list[tuple[Any, str, int]] = [(definition, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= MAX_DEFINITION_DEPTH:
                issues.append(Issue(where, "rule.limit_depth", {"max": MAX_DEFINITION_DEPTH}))
                continue
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str) and (bad := _bad_character(key)) is not None:
                    issues.append(Issue(where, "rule.text_bad_character", {"character": bad}))
                    continue
                stack.append((child, _at(where, key), depth + 1))
        elif (issue := _scalar_issue(node, where)) is not None:
            issues.append(issue)
    return sorted(issues, key=lambda i: i.path)


def condition_issues(condition: Any, path: str = "condition") -> list[Issue]:
    """Where a condition is too large for the scan: too deep, too many operands, a constant list or
    string too long, too many nodes in all. Paths name the node (`condition.and.3`), as
    `validate_logic` does. Stops at the first node past MAX_NODES."""
    issues: list[Issue] = []
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(condition, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            issues.append(Issue(path, "rule.limit_nodes", {"max": MAX_NODES}))
            break
        if isinstance(node, str) and len(node) > MAX_STRING:
            issues.append(Issue(where, "rule.limit_string", {"length": len(node), "max": MAX_STRING}))
        if not isinstance(node, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            issues.append(Issue(where, "rule.limit_depth", {"max": MAX_DEPTH}))
            continue
        if isinstance(node, list):
            if len(node) > MAX_IN_LIST:
                issues.append(Issue(where, "rule.limit_list", {"count": len(node), "max": MAX_IN_LIST}))
                continue
            stack.extend((item, _at(where, i), depth + 1) for i, item in enumerate(node))
            continue
        for op, raw in node.items():
            here = _at(where, op)
            args = raw if isinstance(raw, list) else [raw]
            if len(args) > MAX_OPERANDS:
                issues.append(Issue(here, "rule.limit_operands",
                                    {"operator": str(op)[:40], "count": len(args), "max": MAX_OPERANDS}))
                continue
            # an operator's argument list is not a level of its own
            stack.extend((arg, _at(here, i), depth + 1) for i, arg in enumerate(args))
    return issues

