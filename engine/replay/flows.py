"""Flow versions replayed over orders' recorded history on a virtual clock (what-if, issue 14).

An order that ran a flow left a record: when its flow started and who started it, every visit of a
step (`node_entered`) and what people decided there and when (`approved`, `task_completed`,
`rejected`, `sent_back`, `resubmitted`), and, in its event log, how its fields changed over time
(`engine.replay.timeline.rebuild`). `history_of` turns that record into a `FlowHistory`;
`replay(defn, histories, ...)` drives each one through a flow version with the interpreter's own
handlers (`engine.flows.step` without its copy of the state, see `_step_in_place`):

- the clock is virtual: the next moment is the earliest of a recorded decision falling due, a timer
  the version scheduled (time limits, waits), a recorded field change (for waits on a date field
  and blocked steps) or a recorded resubmission;
- a person's decision at the n-th visit of a step comes `offset` after the visit began, as it did
  in the record (so the version the order ran reproduces its recorded times, and a step added
  before shifts everything after it);
- the order's fields at a moment are its recorded values then: branches choose on them;
- a step the record never reached (a new approval level, a branch now taken) has no recorded
  answer. Its waiting is *estimated* from the recorded waits of similar steps (the same step in
  other orders, else steps given to the same kind of people, else steps of the same type: the
  median) and the step is assumed approved / completed; the estimate and its basis are reported.
  With nothing similar to estimate from, the order is *stuck* there: the history cannot answer;
- a step waiting on a field that never got a value, a branch with no matching path, a step with
  nobody to give it to, or a recorded decision the version refuses (required fields missing) leave
  the order *stuck*, with the reason.

The record itself is read in `engine/replay/flow_record.py`. Pure: no I/O, no clock; `deadline()` is the caller's to say when to stop (the answer is then
`truncated`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine import effects as fx
from engine.flows.actions import HANDLERS
from engine.flows.definition import FlowDefinition
from engine.flows.directory import Directory
from engine.flows.errors import FlowError
from engine.flows.events import (
    Approve,
    CompleteTask,
    FieldsChanged,
    Reject,
    Resubmit,
    SendBack,
    Start,
    TimerFired,
    Withdraw,
)
from engine.flows.run import Run
from engine.flows.state import FlowState
from engine.replay.flow_record import (
    Decision,
    Estimate,
    FlowHistory,
    Visit,
    Waits,
    assignee_label,
    history_of,
    waits_of,
)
from engine.replay.timeline import Step

__all__ = ["Decision", "Estimate", "FlowHistory", "FlowRun", "OrderRun", "Visit", "Waits", "assignee_label",
           "history_of", "replay", "waits_of"]

LEAVES = {"node_completed", "rejected", "sent_back", "auto_approved", "skipped", "wait_over", "finished",
          "withdrawn"}
ROUTING = frozenset({"start", "exclusive", "parallel_split", "parallel_join"})  # not steps of a path
MAX_EVENTS = 400  # per order and version: a loop that never settles is reported stuck, not followed forever


@dataclass
class OrderRun:
    order_id: int
    path: tuple[str, ...] = ()  # steps entered, in order (not the start, branches and joins)
    status: str = "running"  # completed / cancelled / rejected / withdrawn / sent_back / running / stuck
    stuck: tuple[str, str] | None = None  # (step, reason)
    open_at: tuple[str, ...] = ()  # steps still waiting at the window's end
    todos: Counter = field(default_factory=Counter)  # per assignee label
    durations: dict[str, list[float]] = field(default_factory=dict)  # step -> seconds per visit
    estimated: list[Estimate] = field(default_factory=list)
    finished_seconds: float | None = None  # start to end of the flow


@dataclass
class FlowRun:
    runs: dict[int, OrderRun] = field(default_factory=dict)
    truncated: bool = False
    events: int = 0


# -- driving one order through one version ---------------------------------------------------------


def _step_in_place(defn: FlowDefinition, state: FlowState, event: Any, now: datetime, *, directory: Directory,
                   facts: Mapping[str, Any]) -> tuple[FlowState, tuple[Any, ...]]:
    """`engine.flows.step` without its deep copy of the state (two thirds of the replay's time): the
    replay owns its state, and a refused event ends that order's replay, so no caller keeps the
    state it passed in. The handlers are the interpreter's own."""
    run = Run(defn, state, now, directory, dict(facts))
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise FlowError("flow.unknown_event", type=type(event).__name__)
    handler(run, event)
    return run.state, tuple(run.effects)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


class _Facts:
    """The order's recorded values at a moment, as flows see them (dates as ISO text)."""

    def __init__(self, steps: Sequence[Step]):
        self.steps = steps
        self.cache: dict[int, dict[str, Any]] = {}

    def index(self, at: datetime) -> int:
        i = -1
        for n, s in enumerate(self.steps):
            if s.at <= at:
                i = n
            else:
                break
        return max(i, 0)

    def at(self, moment: datetime) -> dict[str, Any]:
        if not self.steps:
            return {"data": {}}
        i = self.index(moment)
        if i not in self.cache:
            values = self.steps[i].values
            facts = {k: _plain(v) for k, v in values.items() if k != "data"}
            facts["data"] = dict(values.get("data") or {})
            self.cache[i] = facts
        return self.cache[i]


class _Driver:
    def __init__(self, defn: FlowDefinition, history: FlowHistory, directory: Directory, waits: Waits,
                 end: datetime):
        self.defn = defn
        self.h = history
        self.directory = directory
        self.waits = waits
        self.end = end
        self.facts = _Facts(history.steps)
        self.state = FlowState()
        self.now = history.started_at
        self.timers: dict[str, tuple[datetime, str, str, int]] = {}
        self.applied: dict[tuple[str, int], int] = {}  # (step, visit) -> recorded decisions taken
        # (task, activation) -> (when, the recorded decision or None for an estimate, (step, visit))
        self.planned: dict[tuple[str, int], tuple[datetime, Decision | None, tuple[str, int]]] = {}
        self.estimated: dict[tuple[str, int], Estimate] = {}
        self.no_answer: str | None = None
        self.resubmits = 0
        self.stopped_at: datetime | None = None
        self.withdraw_tried = False
        self.run = OrderRun(history.order_id)
        self.events = 0

    # the engine, one event at a time
    def apply(self, event: Any, at: datetime, facts_at: datetime | None = None) -> bool:
        self.now = at
        before = self.state.status
        try:
            self.state, effects = _step_in_place(self.defn, self.state, event, at, directory=self.directory,
                                                 facts=self.facts.at(facts_at or at))
        except FlowError as exc:
            if exc.code == "flow.timer_stale":  # refused before anything changed
                return False
            raise
        self.events += 1
        tasks = {t.id: t for t in self.state.tasks}
        for effect in effects:
            if isinstance(effect, fx.ScheduleTimer):
                p = effect.payload
                self.timers[effect.dedupe_key] = (effect.fire_at, effect.kind, p["token_id"], p["n"])
            elif isinstance(effect, fx.CancelTimer):
                self.timers.pop(effect.timer_dedupe_key, None)
            elif isinstance(effect, fx.CreateTodo):
                task = tasks.get(effect.payload.get("task_id"))
                self.run.todos[self._label(task, effect)] += 1
        if self.state.status in ("sent_back", "rejected") and before != self.state.status:
            self.stopped_at = at
        return True

    def _label(self, task: Any, effect: fx.CreateTodo) -> str:
        if task is None or task.kind == "resubmit":
            return "initiator"
        if task.origin == "admin":
            return "role:admin"
        if task.origin in ("escalated", "climbed"):
            return "manager"
        node = self.defn.nodes_by_key.get(effect.node_key or task.node_key)
        return assignee_label(node) if node is not None else "admin"

    # what a pending to-do's person does, and when
    def plan(self, task: Any) -> tuple[datetime, Decision | None, tuple[str, int]] | None:
        key = (task.id, task.activations)
        if key in self.planned:
            return self.planned[key]
        token = self.state.token(task.token_id) if task.token_id else None
        if token is None:
            return None
        visit_key = (task.node_key, token.visit)
        recorded = self.h.visits.get(task.node_key, ())
        visit = recorded[token.visit - 1] if token.visit <= len(recorded) else None
        # decisions taken at this visit, and those promised to other open to-dos of it (a to-do
        # handed on by a time-out before its decision came gives its decision to the next holder)
        n = self.applied.get(visit_key, 0) + sum(
            1 for t in self.state.pending_tasks() if t.id != task.id
            and (p := self.planned.get((t.id, t.activations))) is not None and p[1] is not None and p[2] == visit_key)
        if visit is not None and n < len(visit.decisions):
            decision = visit.decisions[n]
            plan = (max(token.entered_at + decision.offset, self.now), decision, visit_key)
        elif visit is not None and (not visit.decisions or task.pool):
            # the record waits here too (still open, or the order went another way); or one of a
            # pool already decided for everyone (或签)
            plan = None
        else:
            node = self.defn.node(task.node_key)
            estimate = self.waits.estimate(node)
            if estimate is None:
                self.no_answer = task.node_key
                plan = None
            else:
                self.estimated.setdefault(visit_key, estimate)
                plan = (max(token.entered_at + timedelta(seconds=estimate.seconds), self.now), None, visit_key)
        if plan is not None:
            self.planned[key] = plan
        return plan

    def decide(self, task: Any, decision: Decision | None, at: datetime) -> None:
        node = self.defn.node(task.node_key)
        actor = task.assignee_id
        action = decision.action if decision else "approved"
        if action == "rejected" and node.type == "approval":
            event = Reject(actor_id=actor, task_id=task.id)
        elif action == "sent_back":
            if decision.to == "initiator":
                event = SendBack(actor_id=actor, task_id=task.id, to="initiator")
            elif decision.to in self.state.completed:
                event = SendBack(actor_id=actor, task_id=task.id, to="node", node_key=decision.to)
            else:
                event = SendBack(actor_id=actor, task_id=task.id, to="previous")
        elif node.type == "approval":
            event = Approve(actor_id=actor, task_id=task.id)
        else:
            event = CompleteTask(actor_id=actor, task_id=task.id)
        # the values a person entered with a decision are in the record from its moment on
        self.apply(event, at, facts_at=max(at, decision.at) if decision else at)

    def next_field_change(self) -> datetime | None:
        if not any(t.blocked or self.defn.node(t.node_key).type == "wait" for t in self.state.tokens):
            return None
        for s in self.h.steps:
            if s.at > self.now:
                return s.at
        return None

    def drive(self) -> OrderRun:
        self.apply(Start(initiator_id=self.h.initiator_id, chosen_approvers=dict(self.h.chosen_approvers)),
                   self.h.started_at)
        while self.events < MAX_EVENTS:
            moments: list[tuple[datetime, int, Any]] = []
            if self.state.status == "running":
                for task in self.state.pending_tasks():
                    plan = self.plan(task)
                    if plan is not None:
                        moments.append((plan[0], 0, ("decide", task, plan[1], plan[2])))
                for fire_at, kind, token_id, n in self.timers.values():
                    moments.append((max(fire_at, self.now), 1, ("timer", kind, token_id, n)))
                changed = self.next_field_change()
                if changed is not None:
                    moments.append((changed, 2, ("fields",)))
                if self.h.withdrawn_after is not None and not self.withdraw_tried:
                    moments.append((self.h.started_at + self.h.withdrawn_after, 4, ("withdraw",)))
            elif self.state.status in ("sent_back", "rejected") and self.resubmits < len(self.h.resubmit_delays):
                moments.append((self.stopped_at + self.h.resubmit_delays[self.resubmits], 3, ("resubmit",)))
            if not moments:
                break
            at, _, what = min(moments, key=lambda m: (m[0], m[1]))
            if at > self.end:
                break
            try:
                if what[0] == "decide":
                    if what[2] is not None:
                        self.applied[what[3]] = self.applied.get(what[3], 0) + 1
                    self.decide(what[1], what[2], at)
                elif what[0] == "timer":
                    self.timers = {k: v for k, v in self.timers.items() if (v[2], v[3]) != (what[2], what[3])}
                    self.apply(TimerFired(kind=what[1], token_id=what[2], n=what[3]), at)
                elif what[0] == "fields":
                    self.apply(FieldsChanged(), at)
                elif what[0] == "withdraw":
                    # the recorded withdrawal, when the version still allows it (nobody decided yet)
                    self.withdraw_tried = True
                    with contextlib.suppress(FlowError):
                        self.apply(Withdraw(actor_id=self.h.initiator_id), at)
                else:
                    self.resubmits += 1
                    self.apply(Resubmit(actor_id=self.h.initiator_id), at)
            except FlowError as exc:
                node_key = what[1].node_key if what[0] == "decide" else "-"
                return self.finish(stuck=(node_key, exc.code))
        else:
            return self.finish(stuck=("-", "flow.loop_limit"))
        return self.finish()

    def finish(self, stuck: tuple[str, str] | None = None) -> OrderRun:
        run, state = self.run, self.state
        history = state.history
        nodes = self.defn.nodes_by_key
        run.path = tuple(h.node_key for h in history if h.action == "node_entered" and h.node_key
                         and getattr(nodes.get(h.node_key), "type", None) not in ROUTING)
        entered: dict[str, datetime] = {}
        for h in history:
            if not h.node_key:
                continue
            if h.action == "node_entered":
                entered[h.node_key] = h.at
            elif h.action in LEAVES and h.node_key in entered:
                node = self.defn.nodes_by_key.get(h.node_key)
                if node is not None and node.type in ("approval", "task", "wait"):
                    run.durations.setdefault(h.node_key, []).append((h.at - entered.pop(h.node_key)).total_seconds())
        run.estimated = list(self.estimated.values())
        run.status = state.status
        if state.status in ("completed", "cancelled"):
            run.finished_seconds = (history[-1].at - self.h.started_at).total_seconds()
        if stuck is None and state.status == "running":
            blocked = next((t for t in state.tokens if t.blocked), None)
            if blocked is not None:
                stuck = (blocked.node_key, f"flow.{blocked.blocked}")
            elif self.no_answer is not None:
                stuck = (self.no_answer, "no_history")
        if stuck is not None:
            run.status, run.stuck = "stuck", stuck
        run.open_at = tuple(t.node_key for t in state.tokens)
        return run


def replay(defn: FlowDefinition, histories: Iterable[FlowHistory], *, directory: Directory, waits: Waits,
           end: datetime, deadline: Callable[[], bool] = lambda: False) -> FlowRun:
    """Each order's record driven through `defn` up to `end` (nothing later is replayed)."""
    out = FlowRun()
    for n, history in enumerate(histories):
        if n % 50 == 0 and deadline():
            out.truncated = True
            break
        driver = _Driver(defn, history, directory, waits, end)
        out.runs[history.key] = driver.drive()
        out.events += driver.events
    return out
