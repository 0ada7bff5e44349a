"""Two replays side by side: per rule, the orders it fired on before and would fire on now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from engine.replay.rules import ReplayResult, RuleRun

__all__ = ["RuleDiff", "compare"]


@dataclass(frozen=True)
class RuleDiff:
    key: str
    fired_before: int  # firings with the current (published) version; -1: no such version
    fired_after: int  # firings with the changed version
    orders_before: int
    orders_after: int
    added: tuple[int, ...]  # orders only the changed version fires on
    removed: tuple[int, ...]  # orders only the current version fires on
    moved: tuple[tuple[int, datetime, datetime], ...]  # (order, first firing before, first firing after)
    todos_before: dict[str, int] = field(default_factory=dict)
    todos_after: dict[str, int] = field(default_factory=dict)
    error_before: str | None = None
    error_after: str | None = None


def _first(run: RuleRun) -> dict[int, datetime]:
    out: dict[int, datetime] = {}
    for firing in run.firings:
        if firing.order_id not in out or firing.at < out[firing.order_id]:
            out[firing.order_id] = firing.at
    return out


def compare(before: ReplayResult | None, after: ReplayResult) -> list[RuleDiff]:
    """One RuleDiff per rule of `after` (a rule `before` lacks is new: everything it fires is added)."""
    out = []
    for key, run in after.runs.items():
        old = before.runs.get(key) if before is not None else None
        old_first = _first(old) if old is not None else {}
        new_first = _first(run)
        moved = tuple((o, old_first[o], new_first[o]) for o in sorted(set(old_first) & set(new_first))
                      if old_first[o] != new_first[o])
        out.append(RuleDiff(
            key=key,
            fired_before=len(old.firings) if old is not None else -1,
            fired_after=len(run.firings),
            orders_before=len(old_first), orders_after=len(new_first),
            added=tuple(sorted(set(new_first) - set(old_first))),
            removed=tuple(sorted(set(old_first) - set(new_first))),
            moved=moved,
            todos_before=dict(Counter(old.todos)) if old is not None else {},
            todos_after=dict(Counter(run.todos)),
            error_before=old.error if old is not None else None,
            error_after=run.error,
        ))
    return out
