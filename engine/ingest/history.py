"""History replay, planned: an order's past stage changes from the timestamps a record carries.

Pure (no database, no clock: `now` is an argument). The backend (backend/ingest/history.py) reads
the cells, calls `plan_history` per record and writes what it returns.

A mapping declares its history as (stage, column) points in the order the stages happen, e.g.
Olist's purchase -> draft, approved -> approval, handed to the carrier -> shipping, delivered to
the customer -> delivered. For one record:

- the first point is the order's creation: it must have a timestamp (`created_at`);
- a point without a timestamp is skipped (the order never reached it, or the file does not know);
- the timestamps of the points kept must not go backwards (equal is fine): a record whose
  timestamps do is refused with `import.history_out_of_order`, naming both columns, rather than
  reordered, because reordering would invent a path through the stages the order never took;
- a timestamp after `now` is refused (`import.history_in_future`);
- two points in a row at the same stage make one stay (the first time counts);
- the final stage is the record's own stage when it has one (the mapped status column), else the
  last point's stage. When the record's stage is not the last point's, the order moved there at a
  time the file does not give: the move is placed at the last known time, a lower bound;
- a closed status (completed / cancelled) closes the order at the last known time, in the same
  step as the last move when they coincide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

OUT_OF_ORDER = "import.history_out_of_order"
IN_FUTURE = "import.history_in_future"
START_MISSING = "import.history_start_missing"


@dataclass(frozen=True)
class Point:
    """One declared history point of one record: the stage, the column it is read from, the
    instant (None when the cell is empty) and the cell as written (for error messages)."""

    stage: str
    column: str
    at: datetime | None
    text: str = ""


@dataclass(frozen=True)
class Transition:
    """One past change: at `at`, these columns went from `before` to `after` (stage, status)."""

    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class HistoryPlan:
    created_at: datetime
    first_stage: str
    stage: str
    stage_entered_at: datetime
    status: str
    closed_at: datetime | None
    transitions: tuple[Transition, ...]
    last_at: datetime  # the latest known time of the record


class HistoryError(ValueError):
    """The record's history cannot be replayed; `column` is the cell to blame."""

    def __init__(self, code: str, column: str, **params: Any):
        super().__init__(code)
        self.code, self.column, self.params = code, column, params


def plan_history(points: Sequence[Point], *, final_stage: str | None, status: str, now: datetime) -> HistoryPlan:
    """The record's replay (see the module docstring), or HistoryError."""
    if not points or points[0].at is None:
        raise HistoryError(START_MISSING, points[0].column if points else "")
    kept: list[Point] = []
    for point in points:
        if point.at is None:
            continue
        if point.at > now:
            raise HistoryError(IN_FUTURE, point.column, value=point.text)
        if kept and point.at < kept[-1].at:
            raise HistoryError(OUT_OF_ORDER, point.column, value=point.text, previous=kept[-1].column,
                               previous_value=kept[-1].text)
        kept.append(point)
    created = kept[0]
    transitions: list[Transition] = []
    stage, entered = created.stage, created.at
    for point in kept[1:]:
        if point.stage != stage:
            transitions.append(Transition(point.at, {"stage": stage}, {"stage": point.stage}))
            stage, entered = point.stage, point.at
    last_at = kept[-1].at
    if final_stage and final_stage != stage:
        transitions.append(Transition(last_at, {"stage": stage}, {"stage": final_stage}))
        stage, entered = final_stage, last_at
    closed_at = None
    if status != "open":
        closed_at = last_at
        if transitions and transitions[-1].at == last_at:
            t = transitions[-1]
            transitions[-1] = Transition(t.at, {**t.before, "status": "open"}, {**t.after, "status": status})
        else:
            transitions.append(Transition(last_at, {"status": "open"}, {"status": status}))
    return HistoryPlan(created_at=created.at, first_stage=created.stage, stage=stage, stage_entered_at=entered,
                       status=status, closed_at=closed_at, transitions=tuple(transitions), last_at=last_at)
