"""Audit API in/out: the filter a reader sends, one event, a keyset page of events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ENTITY_TYPES = ("customer", "user", "department", "api_key", "inbound_source", "channel", "form", "flow", "rule")


class AuditFilter(BaseModel):
    """Newest first; `since`/`until` are UTC days, both included; paged by keyset on (at, id)."""

    model_config = ConfigDict(extra="forbid")

    entity_type: str | None = Field(default=None, max_length=40)
    entity_key: str | None = Field(default=None, max_length=120)
    actor_id: int | None = None
    since: date | None = None
    until: date | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str | None = None
    entity_type: str
    entity_key: str
    action: str
    before: dict[str, Any]
    after: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None
