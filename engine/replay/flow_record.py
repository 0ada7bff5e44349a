"""An order's recorded run of a flow, read for the what-if replay (engine/replay/flows.py).

`history_of` turns a flow instance's `FlowState.history` (as stored JSON) into visits of steps and
the decisions people took at each, with how long after the visit began; `waits_of` pools those
waits so a step the record never reached can have its waiting estimated from similar steps (the
same step in other orders, else steps given to the same kind of people, else steps of the same
type). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from engine.facts.catalogue import as_utc
from engine.flows.definition import FlowDefinition
from engine.replay.timeline import Step

__all__ = ["DECISIONS", "Decision", "Estimate", "FlowHistory", "Visit", "Waits", "assignee_label", "history_of",
           "waits_of"]

DECISIONS = {"approved", "task_completed", "rejected", "sent_back"}

@dataclass(frozen=True)
class Decision:
    at: datetime  # the recorded moment
    offset: timedelta  # since the recorded visit began
    action: str  # approved / task_completed / rejected / sent_back
    to: str | None = None  # sent_back: "initiator" or the step sent back to


@dataclass(frozen=True)
class Visit:
    node_key: str
    entered_at: datetime
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class FlowHistory:
    """One order's recorded run of the flow, and its field values over time."""

    order_id: int
    number: str
    started_at: datetime
    initiator_id: int
    visits: Mapping[str, tuple[Visit, ...]]  # per step, in order of the visits
    resubmit_delays: tuple[timedelta, ...] = ()  # after a send-back / rejection, how long until resubmitted
    steps: tuple[Step, ...] = ()  # engine.replay.timeline.rebuild of the order
    chosen_approvers: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    run_id: int | None = None  # the flow instance: an order may run the flow more than once
    withdrawn_after: timedelta | None = None  # the initiator withdrew (撤回) this long after the start

    @property
    def key(self) -> int:
        """What the replay's runs are keyed by: the instance when known, else the order."""
        return self.run_id if self.run_id is not None else self.order_id


@dataclass(frozen=True)
class Estimate:
    node_key: str
    seconds: float
    basis: str  # "step" (same step, other orders) / "people" (same kind of assignees) / "type"
    samples: int




# -- reading the record ------------------------------------------------------------------------


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return as_utc(value) if isinstance(value, datetime) else None


def history_of(order_id: int, number: str, history: Sequence[Mapping[str, Any]], *,
               steps: Sequence[Step] = (), initiator_id: int | None = None,
               chosen_approvers: Mapping[str, Sequence[int]] | None = None,
               run_id: int | None = None) -> FlowHistory | None:
    """The record of a flow instance (`FlowState.history` as JSON). None when it never started."""
    started_at, initiator = None, initiator_id
    visits: dict[str, list[tuple[datetime, list[Decision]]]] = {}
    resubmits: list[timedelta] = []
    stopped: datetime | None = None
    withdrawn: datetime | None = None
    for entry in history:
        at = _moment(entry.get("at"))
        action = entry.get("action")
        node_key = entry.get("node_key")
        if at is None:
            continue
        if action == "started" and started_at is None:
            started_at = at
            if entry.get("actor_id") is not None:
                initiator = entry.get("actor_id")
        elif action == "node_entered" and node_key:
            visits.setdefault(node_key, []).append((at, []))
        elif action in DECISIONS and node_key and visits.get(node_key):
            entered, decisions = visits[node_key][-1]
            to = (entry.get("params") or {}).get("to") if action == "sent_back" else None
            decisions.append(Decision(at, at - entered, action, to))
            if action in ("rejected", "sent_back") and (action == "rejected" or to == "initiator"):
                stopped = at
        elif action == "withdrawn" and withdrawn is None:
            withdrawn = at
        elif action == "resubmitted" and stopped is not None:
            resubmits.append(at - stopped)
            stopped = None
    if started_at is None or initiator is None:
        return None
    return FlowHistory(
        order_id=order_id, number=number, started_at=started_at, initiator_id=int(initiator),
        visits={k: tuple(Visit(k, at, tuple(d)) for at, d in v) for k, v in visits.items()},
        resubmit_delays=tuple(resubmits), steps=tuple(steps),
        chosen_approvers={k: tuple(v) for k, v in (chosen_approvers or {}).items()}, run_id=run_id,
        withdrawn_after=withdrawn - started_at if withdrawn is not None else None,
    )


# -- estimating the waiting at steps the record has no answer for ---------------------------------


def assignee_label(node: Any) -> str:
    """Who a step's to-dos go to, as a kind: `role:finance`, `manager_chain`, `owner_manager`, …"""
    specs = getattr(node, "assignees", ()) or ()
    if not specs:
        return "admin"
    spec = specs[0]
    if spec.kind == "role":
        return f"role:{spec.role}"
    return spec.kind


@dataclass(frozen=True)
class Waits:
    """Recorded waits (seconds from a step's visit to its first decision), three ways."""

    by_step: Mapping[str, tuple[float, ...]]
    by_people: Mapping[str, tuple[float, ...]]
    by_type: Mapping[str, tuple[float, ...]]

    def estimate(self, node: Any) -> Estimate | None:
        for basis, pool, key in (("step", self.by_step, node.key), ("people", self.by_people, _people_key(node)),
                                 ("type", self.by_type, node.type)):
            values = pool.get(key) or ()
            if values:
                return Estimate(node.key, float(median(values)), basis, len(values))
        return None


def _people_key(node: Any) -> str:
    return f"{node.type}:{assignee_label(node)}"


def waits_of(histories: Iterable[FlowHistory], definitions: Sequence[FlowDefinition]) -> Waits:
    """The waits of every recorded decided visit; a step's kind of people and type come from the
    first of `definitions` that has it (steps no definition has count for their step only)."""
    by_step: dict[str, list[float]] = {}
    by_people: dict[str, list[float]] = {}
    by_type: dict[str, list[float]] = {}
    nodes: dict[str, Any] = {}
    for defn in reversed(definitions):
        nodes.update(defn.nodes_by_key)
    for history in histories:
        for key, visits in history.visits.items():
            node = nodes.get(key)
            for visit in visits:
                if not visit.decisions:
                    continue
                wait = max(visit.decisions[0].offset.total_seconds(), 0.0)
                by_step.setdefault(key, []).append(wait)
                if node is not None and node.type in ("approval", "task"):
                    by_people.setdefault(_people_key(node), []).append(wait)
                    by_type.setdefault(node.type, []).append(wait)
    freeze = lambda d: {k: tuple(v) for k, v in d.items()}  # noqa: E731
    return Waits(freeze(by_step), freeze(by_people), freeze(by_type))
