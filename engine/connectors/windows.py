"""Modified-time windows for vendor APIs that list "orders changed between A and B" (pure).

Vendor APIs (Kingdee, Yonyou, Taobao/Tmall, JD) filter by a local wall-clock time such as
`2026-11-20 10:00:00` in the vendor's zone (Asia/Shanghai) and often cap the span of one query
(Taobao: one day). A run reads windows [start, end] one after another; the cursor is

    {"since": "<start>", "until": "<end>", "at": <page or row where reading resumes>}

while a window is being read, and {"since": "<end>", "until": "", "at": 0} once it is done, so a
run that stops mid-window (a bound, a crash) resumes at the page it had reached, and a second run
reads only what changed after the last window's end. `now` is an argument (never the wall clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

FORMAT = "%Y-%m-%d %H:%M:%S"
_DOTNET = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")  # Kingdee's JSON dates: /Date(1609459200000+0800)/


class TimeError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    start: datetime  # naive, the vendor's local time
    end: datetime
    at: int = 0  # where reading resumes inside the window (a page number or a row offset; 0 = its start)

    def text(self, value: datetime) -> str:
        return value.strftime(FORMAT)


def parse_local(text: str, zone: ZoneInfo) -> datetime:
    """A vendor or cursor time as naive local time in `zone`: `2026-11-20`, `2026-11-20 10:00:00`,
    `2026-11-20T10:00:00.123`, with an offset or Z (converted), or `/Date(ms+0800)/`, or epoch ms."""
    value = (text or "").strip()
    if not value:
        raise TimeError("empty")
    match = _DOTNET.match(value)
    if match or value.isdigit():
        ms = int(match.group(1) if match else value)
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).replace(tzinfo=None)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time())
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("/", "-"))
    except ValueError as exc:
        raise TimeError(value) from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zone).replace(tzinfo=None)
    return parsed


def local_now(now: datetime, zone: ZoneInfo) -> datetime:
    return now.astimezone(zone).replace(tzinfo=None, microsecond=0)


def open_window(cursor: dict, *, now: datetime, zone: ZoneInfo, initial_since: str, span: timedelta,
                lag: timedelta = timedelta(seconds=60), first_back: timedelta = timedelta(days=1)) -> Window | None:
    """The window to read next: an unfinished one from the cursor, else from the cursor's `since`
    (or `initial_since`, or `first_back` before now) for at most `span`, ending `lag` before now
    (a source may still be writing the last seconds). None when there is nothing to read yet."""
    if cursor.get("until"):
        try:
            return Window(parse_local(str(cursor.get("since") or ""), zone),
                          parse_local(str(cursor["until"]), zone), max(0, int(cursor.get("at") or 0)))
        except (TimeError, TypeError, ValueError):
            pass  # a cursor from elsewhere (re-read from a date): start again from its since
    latest = local_now(now, zone) - lag
    since = str(cursor.get("since") or initial_since or "")
    try:
        start = parse_local(since, zone) if since else local_now(now, zone) - first_back
    except TimeError:
        start = local_now(now, zone) - first_back
    end = min(start + span, latest)
    if end <= start:
        return None
    return Window(start, end, 0)


def cursor_at(window: Window, at: int) -> dict:
    """The cursor while `window` is being read and the next page/row to read is `at`."""
    return {"since": window.text(window.start), "until": window.text(window.end), "at": at}


def cursor_done(window: Window) -> dict:
    """The cursor once `window` is read: the next run starts where it ended."""
    return {"since": window.text(window.end), "until": "", "at": 0}
