"""Stored form definitions: one row per (key, version), draft / published / retired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime

STATUSES = ("draft", "published", "retired")


class FormDefinitionRow(SQLModel, table=True):
    """`definition` is `engine.forms.FormDefinition.model_dump(mode="json")`; at most one draft and
    one published version per key (the service keeps it so)."""

    __tablename__ = "form_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_form_definition_key_status", "key", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80)
    version: int
    status: str = Field(default="draft", max_length=20)
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    author_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
