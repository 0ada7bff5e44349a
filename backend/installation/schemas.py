"""The installation calendar as the API and the admin page send and read it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A year's public holidays and 调休 days are ~30 dates; ten years of them fit with room to spare.
MAX_DATES = 1000
MAX_PERIODS = 12


class CalendarIn(BaseModel):
    """What an admin saves. Periods are "HH:MM-HH:MM" strings; the service checks the meaning
    (known zone, ordered and disjoint periods, some working time, no date both on and off)."""

    model_config = ConfigDict(extra="forbid")

    timezone: Annotated[str, Field(min_length=1, max_length=60)]
    working_weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(max_length=7)
    periods: list[Annotated[str, Field(max_length=20)]] = Field(max_length=MAX_PERIODS)
    holidays: list[date] = Field(default_factory=list, max_length=MAX_DATES)
    extra_working_days: list[date] = Field(default_factory=list, max_length=MAX_DATES)
    default_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class CalendarRead(BaseModel):
    timezone: str
    working_weekdays: list[int]
    periods: list[str]
    holidays: list[date]
    extra_working_days: list[date]
    default_currency: str
    version: int  # 0: never saved, the defaults apply
