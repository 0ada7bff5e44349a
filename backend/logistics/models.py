"""Tracking sources (an aggregator's API, configured as data), shipments per order, and the
tracking events read from the feed (deduplicated by shipment, time and text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime

SOURCE_KINDS = ("kuaidi100",)
STATES = ("pending", "in_transit", "out_for_delivery", "signed", "exception")


class TrackingSource(SQLModel, table=True):
    """One aggregator account. `settings` holds the plain settings (poll URL, customer id);
    `secrets` a Fernet token of the key and the push salt (backend/connectors/crypto.py), never
    shown again. `push_key` is the unguessable last part of the push URL the aggregator calls."""

    __tablename__ = "tracking_source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    kind: str = Field(default="kuaidi100", max_length=30)
    push_key: str = Field(max_length=64, unique=True)
    is_enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    secrets: str = Field(default="", sa_type=Text)
    poll_minutes: int = 120
    last_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)  # {code, params, at}
    last_push_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_push_error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Shipment(SQLModel, table=True):
    """A carrier + tracking number on an order, followed until it is signed for."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("order_id", "carrier", "tracking_no"),
        Index("ix_shipment_due", "is_active", "next_poll_at"),
        Index("ix_shipment_tracking_no", "tracking_no"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    carrier: str = Field(max_length=80)
    tracking_no: str = Field(max_length=80)
    state: str = Field(default="pending", max_length=20)
    is_active: bool = True  # False once signed, or when the order's tracking number changed
    failures: int = 0
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ShipmentEvent(SQLModel, table=True):
    """One line of the carrier's feed. `status` is ours (STATES); `raw_status` the feed's own."""

    __tablename__ = "shipment_event"
    __table_args__ = (UniqueConstraint("shipment_id", "at", "context"),
                      Index("ix_shipment_event_shipment_at", "shipment_id", "at"))

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipment.id")
    at: datetime = Field(sa_type=UTCDateTime)
    context: str = Field(max_length=500)
    location: str | None = Field(default=None, max_length=120)
    status: str = Field(max_length=20)
    raw_status: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)
