"""Quiet hours and digest timing: pure functions of a preference and `now`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXTERNAL_CHANNELS = ("email", "sms", "dingtalk", "wecom", "feishu")


def parse_hhmm(value: str | None) -> time | None:
    """'22:00' -> time(22, 0); '' / None -> None; anything else raises ValueError."""
    if not value:
        return None
    hh, sep, mm = value.partition(":")
    if not sep or not (hh.isdigit() and mm.isdigit()) or len(mm) != 2:
        raise ValueError(value)
    return time(int(hh), int(mm))


def zone(name: str, fallback: str = "UTC") -> ZoneInfo:
    """The zone called `name`; `fallback` (the caller passes the installation's) when there is no such
    zone or the name is empty (a user who left it to the installation)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def quiet_until(now: datetime, *, start: str | None, end: str | None, tz: str) -> datetime | None:
    """When quiet hours are on at `now`, the UTC instant they end; else None.

    A window may cross midnight ("22:00"-"07:00"); start == end means no quiet hours.
    """
    begin, finish = parse_hhmm(start), parse_hhmm(end)
    if begin is None or finish is None or begin == finish:
        return None
    local = now.astimezone(zone(tz))
    t = local.time().replace(tzinfo=None)
    inside = begin <= t < finish if begin < finish else (t >= begin or t < finish)
    if not inside:
        return None
    end_day = local.date() if t < finish else local.date() + timedelta(days=1)
    return datetime.combine(end_day, finish, tzinfo=local.tzinfo).astimezone(now.tzinfo)


def digest_due(now: datetime, *, hour: int, tz: str, last_sent_on: date | None) -> date | None:
    """The local day a digest is due for (at or after `hour` local time, once a day), else None."""
    local = now.astimezone(zone(tz))
    if local.hour < hour or last_sent_on == local.date():
        return None
    return local.date()
