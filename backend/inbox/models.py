"""To-dos: work pushed to a person by a flow node or a rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class InboxItem(SQLModel, table=True):
    __tablename__ = "inbox_item"
    __table_args__ = (
        Index("ix_inbox_item_assignee_state", "assignee_id", "state", "due_at"),
        # one row per (effect, assignee): applying an effect twice stores it once
        Index("uq_inbox_item_dedupe_assignee", "dedupe_key", "assignee_id", unique=True),
        # the newest closing: a to-dos report's data version (backend/reports/service.py)
        Index("ix_inbox_item_closed_at", "closed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255)
    order_id: int | None = Field(default=None, foreign_key="sales_order.id", index=True)
    assignee_id: int = Field(foreign_key="app_user.id")
    kind: str = Field(max_length=20)  # approval / task / reminder / follow_up / cc
    title: str = Field(max_length=300)
    # the title per locale when a designer named it in several ({"zh-CN": …, "en": …}); see backend/localized.py
    title_i18n: dict[str, str] | None = Field(default=None, sa_type=JSONType)
    body: str = Field(default="", max_length=4000)
    priority: str = Field(default="normal", max_length=10)
    state: str = Field(default="open", max_length=12)  # open / done / cancelled / superseded
    outcome: str | None = Field(default=None, max_length=20)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    flow_instance_id: int | None = None
    node_key: str | None = Field(default=None, max_length=80)
    source: str = Field(default="flow", max_length=10)  # flow / rule / manual
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
