"""When a scheduled report is due (pure: `now` and the zone are passed in).

A cadence is daily at HH:MM, weekly on a weekday (0 = Monday) at HH:MM, or monthly on day N
(1 … 31; a shorter month uses its last day) at HH:MM, in the installation's zone. `latest_moment`
is the newest due moment at or before `now`; the job sends when it is newer than the last one
sent, so a moment missed during downtime is sent once, and older missed ones never.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KINDS = ("daily", "weekly", "monthly")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class CadenceProblem(ValueError):
    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class Cadence:
    kind: str
    at: time
    weekday: int = 0
    day: int = 1


def parse_cadence(kind: str, at: str, *, weekday: int | None = None, day: int | None = None) -> Cadence:
    if kind not in KINDS:
        raise CadenceProblem("kind")
    match = _HHMM.match((at or "").strip())
    if not match:
        raise CadenceProblem("at")
    if kind == "weekly" and (weekday is None or not 0 <= weekday <= 6):
        raise CadenceProblem("weekday")
    if kind == "monthly" and (day is None or not 1 <= day <= 31):
        raise CadenceProblem("day")
    return Cadence(kind, time(int(match[1]), int(match[2])), weekday or 0, day or 1)


def _on(day: date, cadence: Cadence) -> bool:
    if cadence.kind == "daily":
        return True
    if cadence.kind == "weekly":
        return day.weekday() == cadence.weekday
    return day.day == min(cadence.day, calendar.monthrange(day.year, day.month)[1])


def latest_moment(cadence: Cadence, now: datetime, zone: ZoneInfo) -> datetime:
    """The newest due moment at or before `now` (UTC), searching back at most 32 local days."""
    local_today = now.astimezone(zone).date()
    for back in range(0, 33):
        day = local_today - timedelta(days=back)
        if not _on(day, cadence):
            continue
        moment = datetime.combine(day, cadence.at, tzinfo=zone).astimezone(UTC)
        if moment <= now:
            return moment
    raise AssertionError("a cadence is due at least once in 32 days")


def next_moment(cadence: Cadence, now: datetime, zone: ZoneInfo) -> datetime:
    """The first due moment after `now` (UTC): shown on the page."""
    local_today = now.astimezone(zone).date()
    for ahead in range(0, 33):
        day = local_today + timedelta(days=ahead)
        if not _on(day, cadence):
            continue
        moment = datetime.combine(day, cadence.at, tzinfo=zone).astimezone(UTC)
        if moment > now:
            return moment
    raise AssertionError("a cadence is due at least once in 32 days")


def is_due(cadence: Cadence, now: datetime, zone: ZoneInfo, *, last_sent: datetime | None,
           created_at: datetime) -> datetime | None:
    """The moment to send now, or None: the latest moment, if it is after the schedule was created
    and after the last moment sent."""
    moment = latest_moment(cadence, now, zone)
    if moment < created_at or (last_sent is not None and moment <= last_sent):
        return None
    return moment
