"""The inputs of Foresight: closed orders' stage histories and open orders, as plain values.

Pure (no I/O). The backend reads `order_event` rows into `OrderHistory` values (a trace of
(stage, entered_at) like engine/insight/process_map.py) and open orders into `OpenOrder` values.
Features are raw values known when a stage is entered: customer, owner, region, category, supplier,
amount
(any of them may be missing; `FEATURES` bounds what is read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

#: The stages whose entry completes an order for the delivery promise (planned_delivery): the first of
#: these an order enters is its "completion" (delivered, or completed when a flow has no delivered stage).
FINISH_STAGES: tuple[str, ...] = ("delivered", "completed")

#: Raw categorical features read from an order (missing ones are dropped with a note, never an error).
CATEGORICAL: tuple[str, ...] = ("customer", "owner", "region", "category", "supplier")

Trace = Sequence[tuple[str, datetime]]


@dataclass(frozen=True)
class OrderHistory:
    """A closed order: its stage trace (first stage at creation), status and raw features."""

    order_id: int
    status: str  # completed / cancelled
    trace: Trace
    planned_delivery: date | None = None
    features: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    stage: str
    stage_entered_at: datetime
    planned_delivery: date | None = None
    features: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Visit:
    """One stay of an order in a stage that ended (the order moved on)."""

    order_id: int
    stage: str
    entered_at: datetime
    hours: float
    features: Mapping[str, Any]
    planned_delivery: date | None


def planned_end(day: date) -> datetime:
    """An order is late when it completes after the end of its planned delivery day (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def finish_at(history: OrderHistory, finish_stages: Sequence[str] = FINISH_STAGES) -> datetime | None:
    for stage, at in history.trace:
        if stage in finish_stages:
            return at
    return None


def visits(histories: Sequence[OrderHistory]) -> list[Visit]:
    """Every ended stay (also after completion: invoicing and payment have typical durations too)."""
    out: list[Visit] = []
    for h in histories:
        trace = list(h.trace)
        for (stage, at), (_next, next_at) in zip(trace, trace[1:], strict=False):
            hours = (next_at - at).total_seconds() / 3600.0
            if hours < 0:
                continue
            out.append(Visit(h.order_id, stage, at, hours, h.features, h.planned_delivery))
    return out


def transitions(histories: Sequence[OrderHistory]) -> dict[str, dict[str, int]]:
    """stage -> next stage -> count, over every trace."""
    counts: dict[str, dict[str, int]] = {}
    for h in histories:
        trace = list(h.trace)
        for (a, _), (b, _) in zip(trace, trace[1:], strict=False):
            if a != b:
                row = counts.setdefault(a, {})
                row[b] = row.get(b, 0) + 1
    return counts
