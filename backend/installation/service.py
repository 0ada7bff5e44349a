"""The installation calendar: its time zone, working days and hours, holidays, 调休 days and
default currency, as an admin set them (one row), or today's defaults when nobody has.

Why this exists: the zone and the Monday-to-Friday calendar were fixed in code, so a company in
another zone, or one that works Saturdays, got wrong "today"s, order numbers, working-hour facts
and flow time limits. Everything that needs them reads `get_installation(session)` (one query per
session, remembered in `session.info`); code with no session at hand (the pages' date filters)
reads `current()`, the value this process read last. Every request and worker tick reads the row
again, so a save in one process reaches the others at their next request or tick.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.installation.models import InstallationCalendarRow
from backend.installation.schemas import MAX_DATES, CalendarIn, CalendarRead
from engine.calendar import BusinessCalendar, WorkingPeriod

log = logging.getLogger("gendan")

DEFAULT_CURRENCY = "CNY"
FALLBACK_ZONE = "Asia/Shanghai"
MAX_RANGE_DAYS = 62  # a pasted range such as 2027-10-01~2027-10-07; longer is surely a typo
_SESSION_KEY = "gendan.installation"
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})\s*$")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


class Installation:
    """The calendar rules and time limits count with, and the currency imports default to."""

    __slots__ = ("calendar", "default_currency", "version")

    def __init__(self, calendar: BusinessCalendar, default_currency: str = DEFAULT_CURRENCY, version: int = 0):
        self.calendar = calendar
        self.default_currency = default_currency
        self.version = version  # 0: never saved, the defaults

    @property
    def timezone(self) -> str:
        return self.calendar.timezone

    @property
    def zone(self) -> ZoneInfo:
        return self.calendar.zone

    def today(self, now: datetime) -> date:
        """The date people of this installation read on their wall at `now`."""
        return now.astimezone(self.zone).date()


_last: Installation | None = None  # what this process read last (see `current`)


def default_installation() -> Installation:
    """An installation nobody configured: GENDAN_TIMEZONE (else Asia/Shanghai), Monday to Friday
    9-12 and 13-18, CNY: what the code did before the calendar could be set."""
    from backend.settings import get_settings

    zone = get_settings().timezone
    try:
        calendar = BusinessCalendar(timezone=zone)
    except ValidationError:
        log.warning("GENDAN_TIMEZONE %r is not a known time zone; using %s", zone, FALLBACK_ZONE)
        calendar = BusinessCalendar(timezone=FALLBACK_ZONE)
    return Installation(calendar)


def current() -> Installation:
    """The installation as this process last read it (the defaults before any read). For code with
    no session, such as the pages' date filters; everything else calls `get_installation`."""
    global _last
    if _last is None:
        _last = default_installation()
    return _last


def forget() -> None:
    """Drop what this process remembers (tests: a rolled-back save must not outlive its test)."""
    global _last
    _last = None


def _remember(session: Session, installation: Installation) -> Installation:
    global _last
    session.info[_SESSION_KEY] = installation
    _last = installation
    return installation


def get_installation(session: Session) -> Installation:
    """The saved calendar, or the defaults on a database where nobody saved one. One query per
    session: a request or a worker tick sees one calendar throughout."""
    memo = session.info.get(_SESSION_KEY)
    if memo is not None:
        return memo
    row = session.execute(select(InstallationCalendarRow).where(InstallationCalendarRow.id == 1)).scalars().first()
    return _remember(session, _from_row(row) if row is not None else default_installation())


def installation_calendar(session: Session) -> BusinessCalendar:
    return get_installation(session).calendar


def _from_row(row: InstallationCalendarRow) -> Installation:
    try:
        calendar = BusinessCalendar(
            timezone=row.timezone, working_weekdays=frozenset(row.working_weekdays or ()),
            periods=tuple(WorkingPeriod(start=time.fromisoformat(s), end=time.fromisoformat(e))
                          for s, e in row.periods or ()),
            holidays=frozenset(date.fromisoformat(d) for d in row.holidays or ()),
            extra_working_days=frozenset(date.fromisoformat(d) for d in row.extra_working_days or ()),
            name="installation")
    except (ValidationError, ValueError, TypeError):
        # written by hand or by a newer version: keep working on the defaults rather than fail
        # every rule, timer and page, and say so
        log.exception("installation_calendar row %s cannot be read; using the defaults", row.version)
        return default_installation()
    return Installation(calendar, row.default_currency or DEFAULT_CURRENCY, row.version)


def read(installation: Installation) -> CalendarRead:
    cal = installation.calendar
    return CalendarRead(
        timezone=cal.timezone, working_weekdays=sorted(cal.working_weekdays),
        periods=[f"{p.start:%H:%M}-{p.end:%H:%M}" for p in cal.periods],
        holidays=sorted(cal.holidays), extra_working_days=sorted(cal.extra_working_days),
        default_currency=installation.default_currency, version=installation.version)


# ---------------------------------------------------------------- validating and saving

def known_zones() -> list[str]:
    """Zones an admin may choose: the region/city names (no Etc/ offsets or legacy aliases)."""
    return _ZONES


_ZONES = sorted(z for z in available_timezones()
                if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/")))


def parse_period(text: str) -> WorkingPeriod | None:
    """'09:00-12:00' -> WorkingPeriod, None when it is not one (24:00 is not a time here)."""
    match = _PERIOD.match(text)
    if not match:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) >= (h2, m2):
        return None
    return WorkingPeriod(start=time(h1, m1), end=time(h2, m2))


def parse_date_list(text: str) -> tuple[list[date], tuple[str, dict[str, Any]] | None]:
    """Dates pasted as one wants them: separated by new lines, commas, spaces or 、; each as
    2027-10-01, 2027/10/01 or 2027年10月1日; a range as 2027-10-01~2027-10-07 (or ..). Returns the
    sorted unique dates and the first error as (code, params), if any."""
    out: set[date] = set()
    for token in re.split(r"[\s,;，；、]+", text.strip()):
        if not token:
            continue
        if len(out) > MAX_DATES:
            return [], ("calendar.too_many_dates", {"max": MAX_DATES})
        parts = re.split(r"~|\.\.|～|至", token, maxsplit=1) if not _DATE.match(token) else [token]
        days = [_date(p) for p in parts]
        if any(d is None for d in days):
            return [], ("calendar.date_invalid", {"value": token[:40]})
        if len(days) == 1:
            out.add(days[0])
            continue
        first, last = days
        span = (last - first).days
        if span < 0:  # said as "at most 62 days" before: true, and no help
            return [], ("calendar.range_reversed", {"value": token[:40]})
        if span >= MAX_RANGE_DAYS:
            return [], ("calendar.range_too_long", {"max": MAX_RANGE_DAYS, "value": token[:40]})
        out.update(first + timedelta(days=i) for i in range(span + 1))
    if len(out) > MAX_DATES:
        return [], ("calendar.too_many_dates", {"max": MAX_DATES})
    return sorted(out), None


def _date(text: str) -> date | None:
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def build_calendar(data: CalendarIn) -> BusinessCalendar:
    """The engine's calendar from what an admin sent, or GendanError calendar.invalid with a
    message per field (every problem at once, so the page marks them all)."""
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        ZoneInfo(data.timezone)
        if data.timezone not in _ZONES and data.timezone != "UTC":
            raise ZoneInfoNotFoundError(data.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fields["timezone"] = ("calendar.unknown_timezone", {"timezone": data.timezone[:60]})
    periods = []
    for text in data.periods:
        period = parse_period(text)
        if period is None:
            fields.setdefault("periods", ("calendar.period_invalid", {"value": text[:20]}))
        else:
            periods.append(period)
    periods.sort(key=lambda p: p.start)
    for earlier, later in zip(periods, periods[1:], strict=False):
        if later.start < earlier.end:
            fields.setdefault("periods", ("calendar.periods_overlap", {
                "first": f"{earlier.start:%H:%M}-{earlier.end:%H:%M}",
                "second": f"{later.start:%H:%M}-{later.end:%H:%M}"}))
    both = sorted(set(data.holidays) & set(data.extra_working_days))
    if both:
        fields["extra_working_days"] = ("calendar.date_in_both", {"date": both[0].isoformat()})
    if "periods" not in fields and (not periods or not (data.working_weekdays or data.extra_working_days)):
        fields["working_weekdays" if periods else "periods"] = ("calendar.no_working_time", {})
    if fields:
        raise GendanError("calendar.invalid", {"count": len(fields)}, fields=fields)
    return BusinessCalendar(timezone=data.timezone, working_weekdays=frozenset(data.working_weekdays),
                            periods=tuple(periods), holidays=frozenset(data.holidays),
                            extra_working_days=frozenset(data.extra_working_days), name="installation")


def save_installation(session: Session, *, actor: Actor, data: CalendarIn, now: datetime) -> Installation:
    """Replace the installation calendar (admins only). One transaction: row, audit, commit."""
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    calendar = build_calendar(data)
    row = session.execute(select(InstallationCalendarRow).where(InstallationCalendarRow.id == 1)
                          .with_for_update()).scalars().first()
    before = read(_from_row(row) if row is not None else default_installation()).model_dump(mode="json")
    if row is None:
        row = InstallationCalendarRow(id=1, version=0, timezone=calendar.timezone,
                                      default_currency=data.default_currency, updated_at=now)
        session.add(row)
    installation = Installation(calendar, data.default_currency, row.version + 1)
    after = read(installation).model_dump(mode="json")
    row.timezone = calendar.timezone
    row.working_weekdays = after["working_weekdays"]
    row.periods = [p.split("-") for p in after["periods"]]
    row.holidays = after["holidays"]
    row.extra_working_days = after["extra_working_days"]
    row.default_currency = data.default_currency
    row.version = installation.version
    row.updated_at = now
    row.updated_by_id = actor.user_id or None
    before.pop("version")
    after.pop("version")
    audit.record(session, actor, "installation_calendar", 1, "update", before, after, now)
    session.commit()
    return _remember(session, installation)
