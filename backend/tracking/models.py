"""Tracking links (capability URLs for customers) and which milestones customers are told about."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.models_base import UTCDateTime


class TrackingLink(SQLModel, table=True):
    """`token` is 32 random bytes (256 bits, url-safe base64); revoking keeps the row for the audit."""

    __tablename__ = "tracking_link"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    token: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_viewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MilestoneSetting(SQLModel, table=True):
    """A milestone the company tells customers about (shipped, delivered, invoiced, ...)."""

    __tablename__ = "tracking_milestone"

    milestone: str = Field(max_length=20, primary_key=True)
    is_notified: bool = True
