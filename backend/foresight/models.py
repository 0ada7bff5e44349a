"""Foresight's tables: the model registry, training runs (with progress) and each open order's prediction.

The predictions (predicted_completion_at, predicted_stage_done_at, delay_probability, stage_p90_hours)
live in the narrow `foresight_score`, one row per scored order, not on the wide `sales_order` row
(predtable_0001): a re-score of a million orders then writes ~100-byte rows with two indexes, not
sales_order's rows with eighteen. `Order` reads them as read-only attributes (correlated subqueries,
deferred: loaded only where read, a batch at once with `load_predictions`; backend/orders/models.py),
the facts' SQL likewise (`backend/foresight/columns.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, text
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
    """An open order's prediction: the figures the facts read, their upper bounds, the explanation
    (JSON null when the scoring job wrote it: worked out when shown, backend/foresight/reasons.py)."""

    __tablename__ = "foresight_score"
    # riskiest first (the order list) walks this backwards; unscored and closed orders are not in it
    __table_args__ = (Index("ix_foresight_score_delay_probability", "delay_probability", "order_id",
                            postgresql_where=text("delay_probability IS NOT NULL"),
                            sqlite_where=text("delay_probability IS NOT NULL")),)

    # no foreign keys (score1m3_0001): derived rows, written for ids just read; checking them cost
    # more than the inserts at a million orders (a lock on each order's row)
    order_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # sales_order.id
    basis: str = Field(max_length=20)  # model / fallback / none
    model_id: int | None = Field(default=None)  # foresight_model.id
    stage_done_p90_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completion_p90_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    scored_at: datetime = Field(sa_type=UTCDateTime)
    # predtable_0001: moved here from sales_order; NULL once the order is closed
    predicted_stage_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    predicted_completion_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delay_probability: float | None = Field(default=None)
    stage_p90_hours: float | None = Field(default=None)


#: the prediction columns the facts read (engine/facts/catalogue.py), in foresight_score
PREDICTIONS = ("predicted_stage_done_at", "predicted_completion_at", "delay_probability", "stage_p90_hours")
