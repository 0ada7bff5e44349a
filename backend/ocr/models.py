"""Contract OCR jobs: one uploaded contract, read by the worker into a draft order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class OcrJob(SQLModel, table=True):
    """The file itself is a form upload (backend/forms/files.py, `file_id`) so that the order made
    from the draft can keep it as an attachment; `result` is engine/ocr's draft (fields with
    confidences, line items), `error` a {code, params} when the read failed."""

    __tablename__ = "ocr_job"
    __table_args__ = (Index("ix_ocr_job_state_locked", "state", "locked_until"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: str = Field(max_length=32)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=40)
    state: str = Field(default="queued", max_length=20)  # queued / running / done / failed
    progress: int = 0  # 0..100
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_by: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
