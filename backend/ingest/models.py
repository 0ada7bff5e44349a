"""Import jobs (CSV files turned into orders by the worker) and signed inbound webhook sources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, false
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime

IMPORT_STATES = ("uploaded", "queued", "running", "done", "failed")


class ImportJob(SQLModel, table=True):
    """One uploaded file: its bytes, the confirmed column mapping, progress and per-row errors.

    The file lives in the row (not on a local disk) so any worker process can take the job.
    """

    __tablename__ = "import_job"
    __table_args__ = (Index("ix_import_job_state_locked", "state", "locked_until"),)

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=200)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    encoding: str = Field(max_length=20)
    delimiter: str = Field(max_length=1)
    headers: list[str] = Field(default_factory=list, sa_type=JSONType)
    mapping: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    state: str = Field(default="uploaded", max_length=20)
    total_rows: int = 0
    next_row: int = 0  # rows before this one are processed (the worker resumes here)
    created_count: int = 0
    existing_count: int = 0  # rows whose order was there already: updated_count + unchanged_count
    updated_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    unchanged_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    failed_count: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)  # job-level, not per row
    created_by: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportRowError(SQLModel, table=True):
    """A row that was not imported: its cells (for the fix-and-re-upload CSV) and every problem in it.

    A table rather than one growing JSON list on the job, so each failed row is one small insert.
    """

    __tablename__ = "import_row_error"
    __table_args__ = (Index("ix_import_row_error_job_line", "import_job_id", "line"),)

    id: int | None = Field(default=None, primary_key=True)
    import_job_id: int = Field(foreign_key="import_job.id")
    line: int
    cells: list[str] = Field(default_factory=list, sa_type=JSONType)
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)  # RowError dicts


class ImportRowResult(SQLModel, table=True):
    """What became of one row of a job (created / updated / unchanged / failed) and its order, for
    the per-row download. One small insert per row, in the row's own transaction."""

    __tablename__ = "import_row_result"
    __table_args__ = (Index("ix_import_row_result_job_line", "import_job_id", "line"),)

    id: int | None = Field(default=None, primary_key=True)
    import_job_id: int = Field(foreign_key="import_job.id")
    line: int
    outcome: str = Field(max_length=20)  # created / updated / unchanged / failed
    order_id: int | None = Field(default=None, foreign_key="sales_order.id")
    external_id: str | None = Field(default=None, max_length=120)
    changed: list[str] = Field(default_factory=list, sa_type=JSONType)  # fields an update changed


class InboundSource(SQLModel, table=True):
    """A system that pushes orders to POST /api/v1/inbound/{key}, signing with its own secret."""

    __tablename__ = "inbound_source"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40, unique=True)  # also the orders' `source`
    name: str = Field(max_length=120)
    # HMAC needs the secret itself (a hash cannot verify a signature); it is shown once, never listed
    secret: str = Field(max_length=100)
    acts_as_id: int = Field(foreign_key="app_user.id")
    is_active: bool = True
    # a delivery naming an unknown customer code creates that customer (name from the body)
    creates_customers: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # "gendan" (Gendan's own order JSON) or "mapped" (the sender's shape: records path + mapping)
    body_format: str = Field(default="gendan", max_length=20, sa_column_kwargs={"server_default": "gendan"})
    # mapped format: {"records_path": str, "mapping": ImportMapping} (see backend/ingest/schemas.py)
    mapped: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    # the sender's signature scheme: InboundSignature; None is Gendan's own scheme
    signature: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_by: int = Field(foreign_key="app_user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class InboundDelivery(SQLModel, table=True):
    """Every POST to an inbound URL, accepted or rejected, with the reason (admins read this log)."""

    __tablename__ = "inbound_delivery"
    __table_args__ = (
        Index("ix_inbound_delivery_source_at", "source_key", "received_at", "id"),
        # a signed delivery is applied once: the sender's delivery id, else a hash of timestamp + body
        Index("uq_inbound_delivery_source_dedupe", "source_id", "dedupe_key", unique=True),
        Index("ix_inbound_delivery_order_sent", "source_id", "external_id", "sent_at"),
        Index("ix_inbound_delivery_remote_at", "remote_addr", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_key: str = Field(max_length=60)
    source_id: int | None = Field(default=None, foreign_key="inbound_source.id")
    received_at: datetime = Field(sa_type=UTCDateTime)
    is_accepted: bool
    outcome: str = Field(max_length=20)  # created / updated / unchanged / rejected
    code: str | None = Field(default=None, max_length=80)
    params: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    order_id: int | None = Field(default=None, foreign_key="sales_order.id")
    external_id: str | None = Field(default=None, max_length=120)
    body_sha256: str = Field(max_length=64)  # empty for an unknown source: strangers' bodies are not kept
    body_size: int = 0
    dedupe_key: str | None = Field(default=None, max_length=100)  # set on accepted deliveries only
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the sender's signed timestamp
    remote_addr: str | None = Field(default=None, max_length=64)
