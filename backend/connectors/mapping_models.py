"""Saved versions of a connector's mapping: every save that changes it adds one (never edited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class ConnectorMappingVersion(SQLModel, table=True):
    __tablename__ = "connector_mapping_version"
    __table_args__ = (UniqueConstraint("connector_id", "version", name="uq_connector_mapping_version_connector_id_version"),)

    id: int | None = Field(default=None, primary_key=True)
    connector_id: int = Field(foreign_key="connector.id")
    version: int
    mapping: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    saved_by: int | None = Field(default=None, foreign_key="app_user.id")
    saved_at: datetime = Field(sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=60)  # "restored 3", "imported"
