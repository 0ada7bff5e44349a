"""Pull connectors: the connector (data, not code), its runs, and the records a run could not use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class Connector(SQLModel, table=True):
    """One source the worker pulls orders from. `settings` holds the kind's plain settings;
    `secrets` is a Fernet token of the kind's secret settings (backend/connectors/crypto.py), never
    returned by the API. `cursor` ({"since": …, "token": …}) moves only in the transaction of the
    records it covers."""

    __tablename__ = "connector"
    __table_args__ = (Index("ix_connector_due", "is_enabled", "next_run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    kind: str = Field(max_length=30)
    owner_id: int = Field(foreign_key="app_user.id", index=True)
    is_enabled: bool = True
    paused_reason: str | None = Field(default=None, max_length=60)  # "failures" when it paused itself
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    secrets: str = Field(default="", sa_type=Text)
    schedule_minutes: int | None = None
    schedule_cron: str | None = Field(default=None, max_length=100)
    mapping: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    cursor: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    max_failures: int = 5
    failures_in_row: int = 0
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: str | None = Field(default=None, max_length=20)  # ok / failed
    last_error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)  # {code, params}
    last_error_record: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ConnectorRun(SQLModel, table=True):
    __tablename__ = "connector_run"
    __table_args__ = (Index("ix_connector_run_connector", "connector_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    connector_id: int = Field(foreign_key="connector.id")
    trigger: str = Field(max_length=20)  # schedule / manual / reread
    status: str = Field(default="running", max_length=20)  # running / ok / failed
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_count: int = 0
    created_count: int = 0
    updated_count: int = 0
    unchanged_count: int = 0
    failed_count: int = 0
    error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class ConnectorRecordError(SQLModel, table=True):
    """A record a run could not turn into an order: the record itself (bounded) and what is wrong."""

    __tablename__ = "connector_record_error"
    __table_args__ = (Index("ix_connector_record_error_run", "connector_id", "run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    connector_id: int = Field(foreign_key="connector.id")
    run_id: int = Field(foreign_key="connector_run.id")
    position: int  # the record's place in the run (1 = first)
    external_id: str | None = Field(default=None, max_length=120)
    record: dict[str, Any] | list[Any] | None = Field(default=None, sa_type=JSONType)
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime)
