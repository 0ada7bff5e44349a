"""The audit trail of master data: one row per change to a customer, user, department, API key,
inbound source, notification channel, or a form / flow / rule's state.

Orders have `order_event`; everything else that shapes who sees and receives what is recorded
here, written in the same transaction as the change, so a rolled-back change leaves no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_at_id", "at", "id"),  # the log, newest first, keyset-paged
        Index("ix_audit_event_entity", "entity_type", "entity_key", "at", "id"),  # one entity's history
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)  # None: command line
    entity_type: str = Field(max_length=40)  # customer / user / department / api_key / ...
    entity_key: str = Field(max_length=120)  # a row id as text, or a definition's key
    action: str = Field(max_length=40)  # create / update / revoke / publish / enable / disable / ...
    # changed fields only; secrets appear as "[redacted]" so the log shows that they changed
    before: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    after: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
