"""Stored form definitions: one row per (key, version), draft / published / retired."""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint

from backend.models_base import DEFINITION_STATUSES, VersionedDefinition

STATUSES = DEFINITION_STATUSES


class FormDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.forms.FormDefinition.model_dump(mode="json")`; at most one draft and
    one published version per key (the service keeps it so)."""

    __tablename__ = "form_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_form_definition_key_status", "key", "status"),
    )

