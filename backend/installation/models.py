"""The installation's own calendar: one row (id 1), absent on a new database (then the defaults
of `backend/installation/service.py` apply: GENDAN_TIMEZONE, Monday to Friday 9-12 and 13-18, CNY)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class InstallationCalendarRow(SQLModel, table=True):
    """Dates are ISO strings, periods ["09:00", "12:00"] pairs, weekdays 0 = Monday … 6 = Sunday."""

    __tablename__ = "installation_calendar"

    id: int = Field(default=1, primary_key=True)
    timezone: str = Field(max_length=60)
    working_weekdays: list[Any] = Field(default_factory=list, sa_type=JSONType)
    periods: list[Any] = Field(default_factory=list, sa_type=JSONType)
    holidays: list[Any] = Field(default_factory=list, sa_type=JSONType)
    extra_working_days: list[Any] = Field(default_factory=list, sa_type=JSONType)
    default_currency: str = Field(max_length=3)
    version: int = 1
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by_id: int | None = Field(default=None, foreign_key="app_user.id")
