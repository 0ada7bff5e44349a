"""Form designer API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class IssueRead(BaseModel):
    path: str
    code: str
    params: dict[str, Any]
    message: str


class FormVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    version: int
    status: str
    definition: dict[str, Any]
    author_id: int | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    issues: list[IssueRead] = Field(default_factory=list)
    """Problems that would block publishing this version (empty for published ones)."""


class FormVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    version: int
    status: str
    author_id: int | None
    updated_at: datetime
    published_at: datetime | None


class DraftSave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


class FormDiff(BaseModel):
    key: str
    old_version: int
    new_version: int
    incompatible: list[dict[str, str]]
    archived: list[str]
    added: list[str]
    changed: list[str]
    removed_options: dict[str, list[str]]
    affected_orders: int


class FormEvaluate(BaseModel):
    """A live round trip: data as typed so far -> computed values, visibility, errors."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(default_factory=dict)
    version: int | None = None
    show_errors: bool = False
    stage: str = Field(default="draft", max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    """The order's stage the form is seen at (fields shown from a later stage are hidden before it)."""


class FormEvaluation(BaseModel):
    data: dict[str, Any]
    visible: dict[str, bool]
    required: dict[str, bool]
    totals: dict[str, dict[str, float | int]]
    errors: dict[str, list[str]]
