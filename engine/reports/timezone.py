"""Local dates of UTC timestamps in SQL, in the installation's time zone, on SQLite and PostgreSQL.

PostgreSQL knows time zones: `col AT TIME ZONE 'Asia/Shanghai'`. SQLite does not, so the UTC
offset is computed here from zoneinfo: a constant for a zone without daylight saving (China), else a
CASE over the zone's transitions between 1990 and 2060 (a balanced tree on the epoch seconds, about
log2(140) comparisons a row). Outside that window the nearest offset applies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["offset_segments"]

_FIRST = datetime(1990, 1, 1, tzinfo=UTC)
_LAST = datetime(2060, 1, 1, tzinfo=UTC)


def _offset(zone: ZoneInfo, seconds: int) -> int:
    moment = datetime.fromtimestamp(seconds, UTC)
    return int(moment.astimezone(zone).utcoffset().total_seconds())


@lru_cache(maxsize=16)
def offset_segments(zone_name: str) -> tuple[tuple[int, int], ...]:
    """((start epoch seconds, UTC offset seconds), ...) ascending; the first starts at -inf."""
    zone = ZoneInfo(zone_name)
    start = int(_FIRST.timestamp())
    segments = [(-(2**62), _offset(zone, start))]
    day = _FIRST
    step = timedelta(days=1)
    previous = segments[0][1]
    while day < _LAST:
        nxt = day + step
        now_offset = _offset(zone, int(nxt.timestamp()))
        if now_offset != previous:
            lo, hi = int(day.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:  # the first second with the new offset
                mid = (lo + hi) // 2
                if _offset(zone, mid) == previous:
                    lo = mid
                else:
                    hi = mid
            segments.append((hi, now_offset))
            previous = now_offset
        day = nxt
    return tuple(segments)
