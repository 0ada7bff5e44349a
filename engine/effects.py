"""Effects: what the engine asks the outside world to do.

The engine never writes rows or sends messages. Flow steps and rule firings return these frozen
values; `backend/effects.py:apply_effects` turns them into to-dos, notifications, outbox rows,
field updates and order events inside the caller's transaction. Every effect carries a
deterministic `dedupe_key`, so applying the same effect twice (a retried scan, two workers) stores
it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Priority = Literal["low", "normal", "high", "urgent"]

# A text the engine hands over: plain text (a notify node's title), or one text per locale: names a
# designer wrote ({"zh-CN": "销售经理审批", "en": "Sales manager approval"}) or what a rule's
# templates rendered for each reader language. The reader sees their own language (a staff
# member's preference, a customer's language).
Text = str | Mapping[str, str]


@dataclass(frozen=True)
class CreateTodo:
    """Give a person (or each member of a role) a to-do on an order."""

    dedupe_key: str
    kind: str  # approval / task / reminder / follow_up
    title: Text = field(hash=False)
    assignee_ids: tuple[int, ...]
    body: Text = field(default="", hash=False)
    priority: Priority = "normal"
    due_at: datetime | None = None
    flow_instance_id: int | None = None
    node_key: str | None = None
    cc_user_ids: tuple[int, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class CloseTodo:
    """Close open to-dos that were created under `todo_dedupe_key` (done, withdrawn, moved on)."""

    dedupe_key: str
    todo_dedupe_key: str
    outcome: str  # done / cancelled / superseded


@dataclass(frozen=True)
class Notify:
    """An in-app notification (and, by the user's preferences, email / chat) to staff."""

    dedupe_key: str
    user_ids: tuple[int, ...]
    title: Text = field(hash=False)
    body: Text = field(default="", hash=False)
    channels: tuple[str, ...] = ("in_app",)


@dataclass(frozen=True)
class MessageCustomer:
    """A message to the order's customer by their preferred channel (through the outbox)."""

    dedupe_key: str
    subject: Text = field(hash=False)
    body: Text = field(hash=False)
    channel: str | None = None  # None: the customer's preferred channel


@dataclass(frozen=True)
class CallWebhook:
    dedupe_key: str
    url: str
    payload: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    secret_ref: str | None = None


@dataclass(frozen=True)
class SetField:
    """Set a core column (`planned_delivery`) or a designed field (`data.tracking_no`)."""

    dedupe_key: str
    field: str
    value: Any = field(hash=False, compare=True)


@dataclass(frozen=True)
class AddTag:
    dedupe_key: str
    tag: str


@dataclass(frozen=True)
class AddRiskFlag:
    dedupe_key: str
    flag: str
    reason: str = ""


@dataclass(frozen=True)
class EnterStage:
    """The order's visible stage changes (stage, stage_entered_at)."""

    dedupe_key: str
    stage: str


@dataclass(frozen=True)
class ScheduleTimer:
    dedupe_key: str
    fire_at: datetime
    kind: str
    payload: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class CancelTimer:
    dedupe_key: str
    timer_dedupe_key: str


@dataclass(frozen=True)
class StartFlow:
    dedupe_key: str
    flow_key: str


@dataclass(frozen=True)
class CompleteOrder:
    """The order's flow reached its end: status becomes `completed` (or `cancelled`)."""

    dedupe_key: str
    status: Literal["completed", "cancelled"] = "completed"


@dataclass(frozen=True)
class RecordEvent:
    """An entry in the order's event log (`order_event`): a flow transition, a comment, …

    `type` is a dotted code (`flow.approved`, `flow.node_entered`); `data` holds its params
    (node key, task id, attachments) for the order page's timeline.
    """

    dedupe_key: str
    type: str
    actor_id: int | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


Effect = (
    CreateTodo
    | CloseTodo
    | Notify
    | MessageCustomer
    | CallWebhook
    | SetField
    | AddTag
    | AddRiskFlag
    | EnterStage
    | ScheduleTimer
    | CancelTimer
    | StartFlow
    | CompleteOrder
    | RecordEvent
)
