"""API shapes of rules: a stored version, issues, dry-run results, firing history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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
    # event / indexed (a time rule on the due-time index) / scanned (a time rule the scan checks)
    kind: str = "event"
    # an indexed rule whose due moments the worker is still computing: the share done (percent)
    due_build_percent: int | None = None
    issues: list[IssueRead] = Field(default_factory=list)


class EnableRequest(BaseModel):
    """`start`: "from_now" fires only for orders whose match starts after enabling (the orders
    matching now are recorded as the baseline); "include_matching" also fires on those."""

    model_config = ConfigDict(extra="forbid")

    confirm: bool = False
    start: Literal["from_now", "include_matching"] = "from_now"


class DryRunMatch(BaseModel):
    order_id: int
    number: str
    stage: str
    actions: list[dict[str, Any]]
    problems: list[dict[str, Any]] = Field(default_factory=list)
    stage_label: str = ""  # the stage in the reader's language
    words: list[str] = Field(default_factory=list)  # each action in words: "To-do “…” for 王经理 (the current approver)"
    problem_words: list[str] = Field(default_factory=list)


class RecipientCount(BaseModel):
    name: str
    count: int


class ActionSummary(BaseModel):
    index: int
    type: str
    kind: str  # the action's kind in words
    orders: int  # matching orders on which it does something
    recipients: list[RecipientCount] = Field(default_factory=list)  # top people (or customers), most first
    notes: list[str] = Field(default_factory=list)  # fallbacks and copies to nobody, with counts and why
    sentence: str = ""


class HeavyLoad(BaseModel):
    user_id: int
    name: str
    count: int
    message: str


class DryRunSummary(BaseModel):
    matching: int  # orders matching now
    planned: int  # of which planned for these counts
    sampled: bool  # planned < matching: the counts are of the first `planned`
    actions: list[ActionSummary] = Field(default_factory=list)
    heavy: list[HeavyLoad] = Field(default_factory=list)  # people over the to-do threshold at once


class DryRunRead(BaseModel):
    count: int
    compiled_to_sql: bool
    orders: list[DryRunMatch]
    warnings: list[IssueRead] = Field(default_factory=list)
    summary: DryRunSummary | None = None


class EnablePreviewRead(BaseModel):
    """What the enable dialog offers: the orders matching now (fired only with "include_matching")
    and who would get too many to-dos at once if they were."""

    matching: int
    summary: DryRunSummary


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
    words: list[str] = Field(default_factory=list)  # each effect in words, in the reader's language
    state_words: list[str] = Field(default_factory=list)  # the to-dos' and deliveries' states in words
    problem_words: list[str] = Field(default_factory=list)


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
    place: str = ""  # where, in words: "Action 1 (to-do), title"
