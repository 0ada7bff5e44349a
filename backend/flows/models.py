"""Flow tables: definitions (key + version), instances (the version they started with), timers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import DEFINITION_STATUSES, JSONType, UTCDateTime, VersionedDefinition

STATUSES = DEFINITION_STATUSES


class FlowDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.flows.FlowDefinition.model_dump(mode="json")`; at most one draft and
    one published version per key (the service keeps it so)."""

    __tablename__ = "flow_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_flow_definition_key_status", "key", "status"),
    )



class FlowInstance(SQLModel, table=True):
    """One flow running on one order, pinned to the definition version it started with.

    `state` is `engine.flows.FlowState.to_json()`; `version` guards against lost updates when
    the row cannot be locked (SQLite)."""

    __tablename__ = "flow_instance"
    __table_args__ = (Index("ix_flow_instance_order", "order_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id")
    definition_id: int = Field(foreign_key="flow_definition.id")
    flow_key: str = Field(max_length=80)
    flow_version: int
    status: str = Field(max_length=20)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    version: int = 1
    started_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class FlowTimer(SQLModel, table=True):
    """A time-out or wait, due at `fire_at`; claimed by a worker with a lease (`locked_until`)."""

    __tablename__ = "flow_timer"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_flow_timer_state_fire_at", "state", "fire_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255)
    instance_id: int = Field(foreign_key="flow_instance.id", index=True)
    kind: str = Field(max_length=20)
    fire_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    state: str = Field(default="pending", max_length=12)  # pending / done / cancelled / stale
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
