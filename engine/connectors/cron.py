"""Five-field cron lines (`*/5 * * * *`, `0 8-18 * * 1-5`) and their next moment (pure).

Our own ~80 lines rather than croniter: the connector schedule needs only the classic five
fields, croniter's future was uncertain (its maintainer announced its end in 2024), and a pure
function in engine/ takes `after` as an argument like every other engine time computation.
Semantics are Vixie cron's: when both day-of-month and day-of-week are restricted, either matches.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MAX_DAYS = 366 * 5


class CronError(ValueError):
    """The line is not a five-field cron expression."""


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(text)
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            if not (a.isdigit() and b.isdigit()):
                raise CronError(text)
            start, end = int(a), int(b)
        elif part.isdigit():
            start = int(part)
            end = high if step > 1 else start
        else:
            raise CronError(text)
        if not (low <= start <= end <= high):
            raise CronError(text)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse(line: str) -> tuple[frozenset[int], ...]:
    parts = line.split()
    if len(parts) != 5 or len(line) > 100:
        raise CronError(line)
    fields = [_field(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES, strict=True)]
    if 7 in fields[4]:
        fields[4] = fields[4] | {0}
    return tuple(fields)


def next_after(line: str, after: datetime, tz: ZoneInfo) -> datetime:
    """The first moment strictly after `after` that the line names, read in `tz`; aware, in `after`'s zone."""
    minutes, hours, days, months, weekdays = parse(line)
    dom_restricted, dow_restricted = line.split()[2] != "*", line.split()[4] != "*"
    local = after.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = local.date()
    for _ in range(MAX_DAYS):
        weekday = (day.weekday() + 1) % 7  # cron: 0 = Sunday
        if day.month in months:
            by_dom, by_dow = day.day in days, weekday in weekdays
            hit = (by_dom or by_dow) if (dom_restricted and dow_restricted) else (by_dom and by_dow)
            if hit:
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if candidate >= local:
                            return candidate.astimezone(after.tzinfo)
        day += timedelta(days=1)
    raise CronError(line)
