"""Events a flow instance reacts to: people's actions on to-dos, timers, changed fields.

Events are pydantic models with a `type` tag, so the backend and the designer's simulation can
send them as JSON (`parse_event`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Start(_Event):
    type: Literal["start"] = "start"
    initiator_id: int
    instance_id: int | None = None
    chosen_approvers: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    """For nodes with `initiator_choice` approvers: node key -> user ids, in order."""


class Approve(_Event):
    type: Literal["approve"] = "approve"
    actor_id: int
    task_id: str
    note: str = ""
    values: dict[str, Any] = Field(default_factory=dict)


class Reject(_Event):
    type: Literal["reject"] = "reject"
    actor_id: int
    task_id: str
    note: str = ""


class SendBack(_Event):
    """退回: to the previous people node, to the initiator, or to any earlier people node."""

    type: Literal["send_back"] = "send_back"
    actor_id: int
    task_id: str
    to: Literal["previous", "initiator", "node"] = "previous"
    node_key: str | None = None
    note: str = ""


Return = SendBack


class Transfer(_Event):
    """转交: the to-do moves to another person, who then decides in the actor's place."""

    type: Literal["transfer"] = "transfer"
    actor_id: int
    task_id: str
    to_user_id: int
    note: str = ""


class AddSigner(_Event):
    """加签: `before` - they decide first, then the actor; `after` - the actor approves now and
    the node also waits for them."""

    type: Literal["add_signer"] = "add_signer"
    actor_id: int
    task_id: str
    user_ids: tuple[int, ...] = Field(min_length=1)
    position: Literal["before", "after"] = "before"
    note: str = ""


class Comment(_Event):
    type: Literal["comment"] = "comment"
    actor_id: int
    task_id: str | None = None
    note: str = Field(min_length=1)
    attachments: tuple[str, ...] = ()


class Withdraw(_Event):
    """撤回: the initiator takes the order back before anyone decided."""

    type: Literal["withdraw"] = "withdraw"
    actor_id: int
    note: str = ""


class Urge(_Event):
    """催办: remind the people holding open to-dos (of one node, or all)."""

    type: Literal["urge"] = "urge"
    actor_id: int
    node_key: str | None = None
    note: str = ""


class Resubmit(_Event):
    type: Literal["resubmit"] = "resubmit"
    actor_id: int
    note: str = ""


class CompleteTask(_Event):
    type: Literal["complete_task"] = "complete_task"
    actor_id: int
    task_id: str
    values: dict[str, Any] = Field(default_factory=dict)
    note: str = ""
    by_system: bool = False
    """The system completes a person's to-do (a carrier's feed says "signed"): not the assignee's act,
    so the assignee check is skipped and the history names `actor_id` (the system) with the note."""


class TimerFired(_Event):
    """A timer scheduled by the engine is due; `payload` is the `ScheduleTimer.payload`."""

    type: Literal["timer_fired"] = "timer_fired"
    kind: Literal["flow.timeout", "flow.wait"]
    token_id: str
    n: int = 0


class CompleteNode(_Event):
    """The system reports a node's work done (a connector: the MES work order reached 100%): every
    open to-do of that task node is completed with no person as actor and `note` as the reason."""

    type: Literal["complete_node"] = "complete_node"
    node_key: str
    note: str = ""


class UndoAutoApproval(_Event):
    """A person takes back an approval node's auto-approval: the node opens for its approvers again."""

    type: Literal["undo_auto_approval"] = "undo_auto_approval"
    actor_id: int
    node_key: str
    note: str = ""


class FieldsChanged(_Event):
    """Order fields changed: waits on a date field and nodes blocked without approver retry."""

    type: Literal["fields_changed"] = "fields_changed"
    fields: tuple[str, ...] = ()


FlowEvent = Annotated[
    Start
    | Approve
    | Reject
    | SendBack
    | Transfer
    | AddSigner
    | Comment
    | Withdraw
    | Urge
    | Resubmit
    | CompleteTask
    | TimerFired
    | FieldsChanged
    | CompleteNode
    | UndoAutoApproval,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[Any] = TypeAdapter(FlowEvent)


def parse_event(raw: dict[str, Any]) -> Any:
    return _ADAPTER.validate_python(raw)
