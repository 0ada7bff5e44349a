"""The what-if run: a replay too large to answer inside a request, queued for the worker
(backend/replay/runs.py). The draft is snapshotted at the request; the result is bounded JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class WhatIfRun(SQLModel, table=True):
    __tablename__ = "whatif_run"
    __table_args__ = (Index("ix_whatif_run_state_id", "state", "id"),
                      Index("ix_whatif_run_requested_by_state", "requested_by", "state"))

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # rule / rule_set / flow
    key: str = Field(default="", max_length=200)  # the rule or flow ("" for the rule set)
    weeks: int
    draft: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)  # the definition(s) replayed
    draft_hash: str = Field(max_length=64)  # to say "the draft changed since this replay"
    requested_by: int = Field(foreign_key="app_user.id")
    state: str = Field(default="queued", max_length=20)  # queued / running / done / failed / cancelled
    progress_done: int = 0
    progress_total: int = 0
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)  # {code, params, fields}
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the worker's lease (token)
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
