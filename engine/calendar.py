"""Business calendar: working days, working hours and holidays, in one time zone.

Why this exists: flow time limits ("approve within 8 working hours") and rule facts
(`working_hours_in_stage`) must count only the hours people work. Chinese companies also move
working days around public holidays (调休: a Saturday becomes a working day), so a calendar has
both `holidays` (days off that would be working days) and `extra_working_days` (days on that
would be days off).

Pure: every function takes aware datetimes and returns aware datetimes in UTC; nothing reads the
clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A calendar with no working time would make add_working_hours loop forever; we stop looking
# after this many days and raise instead.
_MAX_SCAN_DAYS = 366 * 20


class CalendarError(ValueError):
    """Bad calendar or bad arguments: a machine `code` plus `params` (translated by the caller)."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(f"{code} {params}" if params else code)
        self.code = code
        self.params = params


class WorkingPeriod(BaseModel):
    """One stretch of working time within a day, local time, `start` < `end`."""

    model_config = ConfigDict(frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WorkingPeriod:
        if self.start >= self.end:
            raise ValueError(f"calendar.period_empty: start {self.start} must be before end {self.end}")
        return self


class BusinessCalendar(BaseModel):
    """Working time of a company. Weekdays are 0 = Monday … 6 = Sunday (Python's `weekday()`)."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "Asia/Shanghai"
    working_weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    periods: tuple[WorkingPeriod, ...] = (
        WorkingPeriod(start=time(9), end=time(12)),
        WorkingPeriod(start=time(13), end=time(18)),
    )
    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    name: str = Field(default="default", max_length=100)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"calendar.unknown_timezone: {value}") from exc
        return value

    @field_validator("working_weekdays")
    @classmethod
    def _weekdays_in_range(cls, value: frozenset[int]) -> frozenset[int]:
        bad = sorted(d for d in value if not 0 <= d <= 6)
        if bad:
            raise ValueError(f"calendar.bad_weekday: {bad}")
        return value

    @field_validator("periods")
    @classmethod
    def _periods_sorted_disjoint(cls, value: tuple[WorkingPeriod, ...]) -> tuple[WorkingPeriod, ...]:
        ordered = tuple(sorted(value, key=lambda p: p.start))
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if later.start < earlier.end:
                raise ValueError(f"calendar.periods_overlap: {earlier.start}-{earlier.end} / {later.start}")
        return ordered

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() in self.working_weekdays

    def working_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working periods as aware UTC intervals (empty on a day off)."""
        if not self.is_working_day(day):
            return []
        out = []
        for period in self.periods:
            start = datetime.combine(day, period.start, self.zone).astimezone(UTC)
            end = datetime.combine(day, period.end, self.zone).astimezone(UTC)
            if end > start:
                out.append((start, end))
        return out

    def has_working_time(self) -> bool:
        return bool(self.periods) and (bool(self.working_weekdays) or bool(self.extra_working_days))


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError("calendar.naive_datetime", argument=name)


def working_hours_between(start: datetime, end: datetime, cal: BusinessCalendar) -> float:
    """Working hours from `start` to `end` (aware datetimes). Negative when `end` is before `start`."""
    _require_aware("start", start)
    _require_aware("end", end)
    if end < start:
        return -working_hours_between(end, start, cal)
    start_utc = start.astimezone(UTC)
    end_utc = end.astimezone(UTC)
    day = start_utc.astimezone(cal.zone).date() - timedelta(days=1)
    last_day = end_utc.astimezone(cal.zone).date() + timedelta(days=1)
    seconds = 0.0
    while day <= last_day:
        for lo, hi in cal.working_intervals(day):
            overlap = (min(hi, end_utc) - max(lo, start_utc)).total_seconds()
            if overlap > 0:
                seconds += overlap
        day += timedelta(days=1)
    return seconds / 3600.0


def add_working_hours(start: datetime, hours: float, cal: BusinessCalendar) -> datetime:
    """The moment when `hours` working hours have passed after `start` (aware UTC result).

    `hours == 0` returns `start` itself (in UTC), even outside working time.
    """
    _require_aware("start", start)
    if hours < 0:
        raise CalendarError("calendar.negative_hours", hours=hours)
    start_utc = start.astimezone(UTC)
    if hours == 0:
        return start_utc
    if not cal.has_working_time():
        raise CalendarError("calendar.no_working_time", calendar=cal.name)
    remaining = timedelta(hours=hours)
    day = start_utc.astimezone(cal.zone).date() - timedelta(days=1)
    for _ in range(_MAX_SCAN_DAYS):
        for lo, hi in cal.working_intervals(day):
            if hi <= start_utc:
                continue
            lo = max(lo, start_utc)
            available = hi - lo
            if available >= remaining:
                return lo + remaining
            remaining -= available
        day += timedelta(days=1)
    raise CalendarError("calendar.no_working_time", calendar=cal.name)
