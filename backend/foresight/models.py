"""Foresight's tables: the model registry, training runs (with progress) and each order's explanation.

The scores themselves are columns on `sales_order` (predicted_completion_at, predicted_stage_done_at,
delay_probability, stage_p90_hours) so the rule scan's SQL reads them like any other column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class ForesightModel(SQLModel, table=True):
    """One trained model: its JSON text (engine.foresight.Foresight.to_json, boosters as LightGBM model
    text), its hold-out report (figures, importances, reliability) and whether it is the live one."""

    __tablename__ = "foresight_model"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # lightgbm / fallback
    live: bool = Field(default=False, index=True)
    model: str = Field(sa_column=Column(Text, nullable=False))
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    closed_orders: int = 0
    trained_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    trained_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ForesightRun(SQLModel, table=True):
    """A training run: queued by the schedule, a command or a button; claimed and run by one worker."""

    __tablename__ = "foresight_run"
    __table_args__ = (Index("ix_foresight_run_state_created", "state", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(default="queued", max_length=20)  # queued / running / done / failed
    trigger: str = Field(max_length=20)  # schedule / command / button
    progress: int = 0  # 0..100
    step: str | None = Field(default=None, max_length=40)
    requested_by: int | None = Field(default=None, foreign_key="app_user.id")
    model_id: int | None = Field(default=None, foreign_key="foresight_model.id")
    went_live: bool = False
    error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)  # {code, params}
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ForesightScore(SQLModel, table=True):
    """The explanation of an open order's scores, and their upper bounds."""

    __tablename__ = "foresight_score"

    order_id: int = Field(foreign_key="sales_order.id", primary_key=True)
    basis: str = Field(max_length=20)  # model / fallback / none
    model_id: int | None = Field(default=None, foreign_key="foresight_model.id")
    stage_done_p90_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completion_p90_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    scored_at: datetime = Field(sa_type=UTCDateTime)
