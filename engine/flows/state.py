"""FlowState: one running flow instance, small and JSON round-trippable.

The interpreter never mutates a state it is given: `step` works on a deep copy and returns it.
`check_invariants` lists impossible situations (used by the property tests and by the backend's
consistency check after loading old rows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

STATE_SCHEMA_VERSION = 1

FlowStatus = Literal["not_started", "running", "sent_back", "rejected", "withdrawn", "completed", "cancelled"]
FINISHED = frozenset({"rejected", "withdrawn", "completed", "cancelled"})
"""No open to-dos and no active nodes; `rejected` / `withdrawn` may be resubmitted."""

TaskStatus = Literal["pending", "queued", "done", "cancelled"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Task(_Model):
    """A to-do of one person at one node visit. `queued` waits for `waits_for` to be approved."""

    id: str
    token_id: str | None
    node_key: str
    kind: Literal["approval", "task", "resubmit"]
    assignee_id: int
    status: TaskStatus = "pending"
    outcome: str | None = None
    origin: str = "assigned"
    pool: bool = False
    """any_of: one approval from the pool completes the pool (the others are superseded)."""
    waits_for: str | None = None
    on_behalf_of: str | None = None
    """Signer added before this task: cancelled with it."""
    activations: int = 0
    """How often the to-do was (re)opened; part of its to-do dedupe key (加签 before pauses it)."""
    created_at: datetime | None = None
    due_at: datetime | None = None
    closed_at: datetime | None = None
    acted_by: int | None = None
    note: str = ""


class Token(_Model):
    """An active node visit. `branch` is the stack of parallel branches it runs in."""

    id: str
    node_key: str
    visit: int
    entered_at: datetime
    branch: tuple[str, ...] = ()
    prev: str | None = None
    due_at: datetime | None = None
    timer_n: int = 0
    """Number of the current timer; a fired timer with another number is stale."""
    timeouts: int = 0
    """How often this visit's time limit ran out: the rung of the time-out ladder it is on."""
    blocked: str | None = None
    """Why the node cannot proceed: `no_approver`, `waiting_for_field`, `no_branch`."""


class Arrival(_Model):
    join_key: str
    branch: tuple[str, ...]


class Completed(_Model):
    """Where a people node last completed, for sending back to it."""

    branch: tuple[str, ...] = ()
    prev: str | None = None


class HistoryEntry(_Model):
    at: datetime
    action: str
    node_key: str | None = None
    actor_id: int | None = None
    task_id: str | None = None
    edge_key: str | None = None
    note: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class FlowState(_Model):
    schema_version: Literal[1] = STATE_SCHEMA_VERSION
    instance_id: int | None = None
    status: FlowStatus = "not_started"
    initiator_id: int | None = None
    seq: int = 0
    tokens: list[Token] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    arrivals: list[Arrival] = Field(default_factory=list)
    visits: dict[str, int] = Field(default_factory=dict)
    completed: dict[str, Completed] = Field(default_factory=dict)
    chosen_approvers: dict[str, list[int]] = Field(default_factory=dict)
    has_decision: bool = False
    urge_count: int = 0
    history: list[HistoryEntry] = Field(default_factory=list)

    # -- queries used by the backend and the order page ------------------------------------

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status in ("pending", "queued")]

    def pending_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "pending"]

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def token(self, token_id: str) -> Token | None:
        return next((t for t in self.tokens if t.id == token_id), None)

    def active_node_keys(self) -> list[str]:
        return [t.node_key for t in self.tokens]

    def path(self) -> list[str]:
        """Edge keys taken, in order (the order page draws them)."""
        return [h.edge_key for h in self.history if h.edge_key]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FlowState:
        return cls.model_validate(raw)


def check_invariants(defn: Any, state: FlowState) -> list[str]:
    """Impossible situations in `state` (empty list: none)."""
    problems: list[str] = []
    open_tasks = state.open_tasks()
    if state.status in FINISHED or state.status == "not_started":
        if state.tokens:
            problems.append(f"{state.status}_with_active_nodes")
        if open_tasks:
            problems.append(f"{state.status}_with_open_todos")
    if state.status == "running" and not state.tokens:
        problems.append("running_without_active_nodes")
    if state.status == "sent_back":
        if state.tokens:
            problems.append("sent_back_with_active_nodes")
        if [t for t in open_tasks if t.kind != "resubmit"]:
            problems.append("sent_back_with_open_node_todos")
    token_ids = [t.id for t in state.tokens]
    if len(token_ids) != len(set(token_ids)):
        problems.append("duplicate_tokens")
    by_token: dict[str | None, list[Task]] = {}
    for task in open_tasks:
        by_token.setdefault(task.token_id, []).append(task)
        if task.kind != "resubmit" and task.token_id not in token_ids:
            problems.append(f"open_todo_without_active_node:{task.id}")
    nodes = defn.nodes_by_key
    for token in state.tokens:
        node = nodes.get(token.node_key)
        if node is None:
            problems.append(f"unknown_node:{token.node_key}")
            continue
        tasks = by_token.get(token.id, [])
        pending = [t for t in tasks if t.status == "pending"]
        if node.type in ("approval", "task"):
            if token.blocked is None and not pending:
                problems.append(f"node_without_pending_todo:{token.node_key}")
            if node.mode == "in_sequence" and len(pending) > 1:
                problems.append(f"sequence_with_two_active:{token.node_key}")
        elif node.type not in ("wait", "parallel_join", "exclusive") and token.blocked is None:
            problems.append(f"transient_node_left_active:{token.node_key}")
    for task in open_tasks:
        if task.status == "queued" and task.waits_for is None:
            problems.append(f"queued_without_predecessor:{task.id}")
    # A fired join consumed every branch of its split: no token may still run in one of them.
    fired = {h.params.get("split") for h in state.history if h.action == "join_fired"}
    for token in state.tokens:
        for entry in token.branch:
            if entry.split(":", 1)[0] in fired:
                problems.append(f"join_fired_early:{entry}")
    return problems
