"""The stored scores' change marks: which orders, customers, suppliers and carriers have inputs
that changed since the scores were last computed (written by the pipeline stage `order_scores`,
drained by the worker job `order_scores.changed`; backend/scores/on_change.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.models_base import UTCDateTime


class OrderScoreMark(SQLModel, table=True):
    __tablename__ = "order_score_mark"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # order / customer / supplier / carrier
    key: str = Field(max_length=200)  # the order's or customer's id, the supplier's or carrier's name
    created_at: datetime = Field(sa_type=UTCDateTime)
