"""Inbox API shapes: what a to-do looks like to the person holding it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Tab = Literal["todo", "done", "cc", "started"]


class TaskField(BaseModel):
    """A field a task asks for (`payload.fields` of the to-do); only these may be written."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")
    label: str = ""
    type: Literal["text", "number", "date", "textarea"] = "text"
    is_required: bool = Field(default=False, alias="required")

    model_config = ConfigDict(populate_by_name=True)


class InboxItemRead(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    priority: str
    state: str
    outcome: str | None
    due_at: datetime | None
    is_overdue: bool
    created_at: datetime
    closed_at: datetime | None
    source: str
    assignee_id: int
    assignee_name: str | None = None
    closed_by_name: str | None = None
    order_id: int | None
    order_number: str | None = None
    order_stage: str | None = None
    order_status: str | None = None
    order_amount: Decimal | None = None
    order_currency: str | None = None
    customer_name: str | None = None
    risk_flags: list[str] = Field(default_factory=list)
    fields: list[TaskField] = Field(default_factory=list)
    flow_instance_id: int | None = None
    node_key: str | None = None
    is_mine: bool = False
    times: int = 1  # a customer's urges (or messages) gathered on one open to-do


class InboxFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tab: Tab = "todo"
    q: str | None = Field(default=None, max_length=100)
    kind: Literal["approval", "task", "reminder", "follow_up", "rule_alert", "escalation", "cc", "customer_urge",
                  "customer_message"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    is_overdue: bool | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


class InboxPage(BaseModel):
    items: list[InboxItemRead]
    total: int
    counts: dict[str, int] = Field(default_factory=dict)
    offset: int = 0
    limit: int = 50

    @property
    def first(self) -> int:
        """1-based number of the first item shown (0 when none)."""
        return self.offset + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.items)

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


class TaskCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict)
    note: str = Field(default="", max_length=2000)


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)
