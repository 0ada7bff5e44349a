"""Stored report definitions: versioned like forms, flows and rules (draft → published → retired)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime, VersionedDefinition


class ReportDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.reports.definition.ReportDefinition.model_dump(mode="json")`."""

    __tablename__ = "report_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_report_definition_key_status", "key", "status"),
    )


class DashboardDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.reports.dashboard.DashboardDefinition.model_dump(mode="json")`:
    tiles (a report key and a place on a 12-column grid) and who it is shared with."""

    __tablename__ = "dashboard_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_dashboard_definition_key_status", "key", "status"),
    )


class ReportSchedule(SQLModel, table=True):
    """A report delivered on a cadence (engine/reports/schedule.py) to users' e-mail and/or a robot,
    run as `owner_id` (row-level access: the owner's, never wider). `last_moment` is the newest
    due moment sent; the job moves it in the transaction that enqueues the messages. With
    `dashboard_key` set it sends that dashboard (one image of its tiles; `report_key` then holds
    the same key)."""

    __tablename__ = "report_schedule"

    id: int | None = Field(default=None, primary_key=True)
    report_key: str = Field(max_length=80, index=True)
    dashboard_key: str | None = Field(default=None, max_length=80)
    kind: str = Field(max_length=10)  # daily / weekly / monthly
    at: str = Field(max_length=5)  # "HH:MM", installation time
    weekday: int = 0  # weekly: 0 = Monday
    day: int = 1  # monthly: 1 … 31
    user_ids: list[int] = Field(default_factory=list, sa_type=JSONType)
    channel_id: int | None = Field(default=None, foreign_key="notify_channel.id")
    locale: str = Field(default="zh_CN", max_length=10)
    owner_id: int = Field(foreign_key="app_user.id")
    is_paused: bool = False
    last_moment: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
