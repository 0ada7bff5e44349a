"""API shapes of rules: a stored version, issues, dry-run results, firing history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class IssueRead(BaseModel):
    path: str
    code: str
    params: dict[str, Any] = Field(default_factory=dict)


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    version: int
    status: str
    enabled: bool
    is_time_rule: bool
    is_event_only: bool
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    last_scan_at: datetime | None = None
    issues: list[IssueRead] = Field(default_factory=list)


class EnableRequest(BaseModel):
    confirm: bool = False


class DryRunMatch(BaseModel):
    order_id: int
    number: str
    stage: str
    actions: list[dict[str, Any]]
    problems: list[dict[str, Any]] = Field(default_factory=list)


class DryRunRead(BaseModel):
    count: int
    compiled_to_sql: bool
    orders: list[DryRunMatch]
    warnings: list[IssueRead] = Field(default_factory=list)


class FiringRead(BaseModel):
    id: int
    rule_key: str
    rule_version: int
    order_id: int
    order_number: str
    episode: int
    trigger: str
    fired_at: datetime
    effects: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    todo_states: list[str]
    delivery_states: list[str] = Field(default_factory=list)  # outbox rows: pending / sent / failed / dead


class PreviewRequest(BaseModel):
    """A rule definition (saved or not) and the order to preview it on: a number or an id."""

    definition: dict[str, Any]
    order: str | None = None  # empty: the first order


class PreviewProblem(BaseModel):
    code: str
    message: str  # translated
    params: dict[str, Any] = Field(default_factory=dict)


class ActionPreview(BaseModel):
    index: int
    type: str
    texts: dict[str, str] = Field(default_factory=dict)  # subject / title / body / reason, rendered
    people: dict[str, list[str]] = Field(default_factory=dict)  # assignee_ids / cc_user_ids / user_ids: names
    effect: dict[str, Any] | None = None  # what a firing would do; None when the action could not run
    problems: list[PreviewProblem] = Field(default_factory=list)


class PreviewRead(BaseModel):
    order_id: int
    number: str
    actions: list[ActionPreview]


class IssueMessageRead(IssueRead):
    """An issue with its translated sentence, for the designer's Check button."""

    message: str = ""
