"""Order API shapes: OrderCreate, OrderUpdate, OrderRead, OrderPage, OrderEventRead."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from backend.ids import RecordId

Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999999999.99"), max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def _plausible(value: date | None) -> date | None:
    """A real calendar date (pydantic refuses 2026-02-30) that is also a plausible business date."""
    if value is not None and not (EARLIEST <= value <= LATEST):
        raise PydanticCustomError("date_out_of_range", "date out of range",
                                  {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()})
    return value


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-./]+$")] | None = None
    customer_id: RecordId
    owner_id: RecordId | None = None
    amount: Money
    currency: Currency | None = None  # none given: the installation's default currency (admin/calendar)
    stage: Annotated[str, Field(min_length=1, max_length=40)] = "draft"
    planned_delivery: date | None = None
    payment_due: date | None = None
    source: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")] = "manual"
    external_id: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    tags: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(default_factory=list, max_length=50)

    _dates = field_validator("planned_delivery", "payment_due")(_plausible)


class OrderUpdate(BaseModel):
    """Every field optional; `version` is the version the caller saw (optimistic locking)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    customer_id: RecordId | None = None
    owner_id: RecordId | None = None
    amount: Money | None = None
    currency: Currency | None = None
    stage: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    status: Literal["open", "completed", "cancelled"] | None = None
    planned_delivery: date | None = None
    payment_due: date | None = None
    data: dict[str, Any] | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(default=None, max_length=50)

    _dates = field_validator("planned_delivery", "payment_due")(_plausible)


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    customer_id: int
    customer_name: str | None = None
    owner_id: int
    owner_name: str | None = None
    amount: Decimal
    currency: str
    stage: str
    status: str
    stage_entered_at: datetime
    planned_delivery: date | None
    payment_due: date | None
    source: str
    external_id: str | None
    data: dict[str, Any]
    form_key: str | None = None
    form_version: int | None = None
    tags: list[str]
    risk_flags: list[str]
    urge_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    # stored scores (engine/facts/scores.py), refreshed by the worker job `order_scores`
    customer_on_time_rate: float | None = None
    supplier_on_time_rate: float | None = None
    carrier_on_time_rate: float | None = None
    priority_score: int = 0
    churn_signals: int = 0
    # Foresight's stored scores (backend/foresight/scoring.py), empty until the worker scores the order
    predicted_stage_done_at: datetime | None = None
    predicted_completion_at: datetime | None = None
    delay_probability: float | None = None


class OrderPage(BaseModel):
    items: list[OrderRead]
    next_cursor: str | None
    total: int | None = None  # with_total: the number of matches, at most TOTAL_CAP (10,000)
    total_capped: bool = False  # more matches than the total says


class OrderEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    type: str
    actor_id: int | None
    actor_name: str | None = None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


SortKey = Literal["created_at", "updated_at", "amount", "number", "stage_entered_at", "planned_delivery",
                  "priority_score", "churn_signals", "delay_probability"]


class OrderFilter(BaseModel):
    """List filters, shared by the API and the orders page."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=100)
    stage: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    status: list[Literal["open", "completed", "cancelled"]] = Field(default_factory=list)
    owner_id: int | None = None
    customer_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    delivery_from: date | None = None
    delivery_to: date | None = None
    amount_min: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None
    amount_max: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None
    tag: str | None = Field(default=None, max_length=40)
    priority_min: int | None = Field(default=None, ge=0, le=100)  # stored priority_score (issue 14)
    churn_min: int | None = Field(default=None, ge=0, le=3)  # stored churn_signals
    overdue: bool = False  # open, not delivered, planned delivery passed (the dashboard's "Overdue")
    risk: bool = False  # open and carrying a risk flag (the dashboard's "Risk-flagged")
    delay_min: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None  # delay_probability >= this
    sort: SortKey = "created_at"
    direction: Literal["asc", "desc"] = "desc"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=400)
    with_total: bool = False

    _dates = field_validator("created_from", "created_to", "delivery_from", "delivery_to")(_plausible)
