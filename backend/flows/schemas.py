"""Flow API in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class IssueRead(BaseModel):
    path: str
    code: str
    nodes: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    message: str = ""


class FlowVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    version: int
    status: str
    author_id: int | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class FlowVersionRead(FlowVersionSummary):
    definition: dict[str, Any]
    issues: list[IssueRead] = Field(default_factory=list)


class SimulationIn(BaseModel):
    definition: dict[str, Any]
    facts: dict[str, Any] = Field(default_factory=dict)
    initiator_id: int | None = None


class SimulationStep(BaseModel):
    node_key: str
    action: str
    assignees: list[dict[str, Any]] = Field(default_factory=list)
    edge_key: str | None = None


class SimulationRead(BaseModel):
    status: str
    path: list[str]
    visited: list[str]
    steps: list[SimulationStep]
    issues: list[IssueRead] = Field(default_factory=list)


class TaskAction(BaseModel):
    """One action on a to-do. Which fields apply depends on the action."""

    action: Literal["approve", "reject", "complete", "send_back", "transfer", "add_signer", "comment"]
    note: str = Field(default="", max_length=2000)
    values: dict[str, Any] = Field(default_factory=dict)
    to: Literal["previous", "initiator", "node"] = "previous"
    node_key: str | None = None
    to_user_id: int | None = None
    user_ids: list[int] = Field(default_factory=list)
    position: Literal["before", "after"] = "before"
    attachments: list[str] = Field(default_factory=list)


class InstanceAction(BaseModel):
    action: Literal["withdraw", "urge", "resubmit", "undo_auto_approval"]
    note: str = Field(default="", max_length=2000)
    node_key: str | None = None


class TaskRead(BaseModel):
    id: str
    node_key: str
    node_name: str
    kind: str
    assignee_id: int
    assignee_name: str
    status: str
    outcome: str | None
    created_at: datetime | None
    due_at: datetime | None
    closed_at: datetime | None
    note: str = ""


class HistoryRead(BaseModel):
    at: datetime
    action: str
    node_key: str | None
    node_name: str | None
    actor_name: str | None
    note: str = ""
    reason: dict[str, str] = Field(default_factory=dict)  # auto_approved: the condition in words, per locale


class FlowInstanceRead(BaseModel):
    id: int
    order_id: int
    flow_key: str
    flow_version: int
    status: str
    version: int
    initiator_id: int | None
    active_nodes: list[str]
    path: list[str]
    visited: list[str]
    tasks: list[TaskRead]
    history: list[HistoryRead]
    definition: dict[str, Any]
    undoable_auto: list[str] = Field(default_factory=list)  # auto-approved nodes a person may undo now


class BacktestIn(BaseModel):
    """Back-test of an approval node's auto-approval condition (backend/flows/autodecide.py)."""

    model_config = ConfigDict(extra="forbid")

    node_key: str = Field(min_length=1, max_length=64)
    condition: Any = None
    weeks: int = Field(default=8, ge=1, le=26)


class BacktestSide(BaseModel):
    orders: int
    late: int
    cancelled: int
    unpaid: int
    open: int


class BacktestExample(BaseModel):
    order_id: int
    number: str
    reached_at: str
    outcome: list[str]


class BacktestRead(BaseModel):
    flow_key: str
    node_key: str
    weeks: int
    reached: int
    capped: bool
    auto: BacktestSide
    people: BacktestSide
    failed: int
    examples: list[BacktestExample]
    condition_words: dict[str, str]
