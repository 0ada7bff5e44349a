"""Due moments of report schedules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.reports.schedule import CadenceProblem, is_due, latest_moment, next_moment, parse_cadence

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def test_daily_at_local_time():
    c = parse_cadence("daily", "08:30")
    # 08:30 Shanghai = 00:30 UTC
    assert latest_moment(c, utc(2026, 12, 7, 0, 29), SH) == utc(2026, 12, 6, 0, 30)
    assert latest_moment(c, utc(2026, 12, 7, 0, 30), SH) == utc(2026, 12, 7, 0, 30)
    assert next_moment(c, utc(2026, 12, 7, 0, 30), SH) == utc(2026, 12, 8, 0, 30)


def test_weekly_on_a_weekday():
    c = parse_cadence("weekly", "9:00", weekday=0)  # Monday
    assert latest_moment(c, utc(2026, 12, 9, 12), SH) == utc(2026, 12, 7, 1, 0)  # Mon 7 Dec 09:00 local
    assert next_moment(c, utc(2026, 12, 9, 12), SH) == utc(2026, 12, 14, 1, 0)


def test_monthly_day_31_uses_the_last_day_of_short_months():
    c = parse_cadence("monthly", "23:00", day=31)
    assert latest_moment(c, utc(2026, 3, 1, 0), SH) == utc(2026, 2, 28, 15, 0)
    assert next_moment(c, utc(2026, 3, 1, 0), SH) == utc(2026, 3, 31, 15, 0)


def test_daylight_saving_zone():
    c = parse_cadence("daily", "08:00")
    assert latest_moment(c, utc(2026, 7, 1, 13), NY) == utc(2026, 7, 1, 12)  # EDT
    assert latest_moment(c, utc(2026, 12, 1, 14), NY) == utc(2026, 12, 1, 13)  # EST


def test_due_once_and_a_missed_stretch_sends_once():
    c = parse_cadence("daily", "08:30")
    created = utc(2026, 12, 1)
    first = is_due(c, utc(2026, 12, 1, 0, 31), SH, last_sent=None, created_at=created)
    assert first == utc(2026, 12, 1, 0, 30)
    assert is_due(c, utc(2026, 12, 1, 5), SH, last_sent=first, created_at=created) is None
    # down for five days: only the newest moment is due, once
    late = is_due(c, utc(2026, 12, 6, 3), SH, last_sent=first, created_at=created)
    assert late == utc(2026, 12, 6, 0, 30)
    assert is_due(c, utc(2026, 12, 6, 4), SH, last_sent=late, created_at=created) is None


def test_not_due_for_a_moment_before_the_schedule_existed():
    c = parse_cadence("daily", "08:30")
    assert is_due(c, utc(2026, 12, 1, 2), SH, last_sent=None, created_at=utc(2026, 12, 1, 1)) is None


@pytest.mark.parametrize("args,field", [
    (("hourly", "08:00"), "kind"), (("daily", "24:00"), "at"), (("daily", "8"), "at"),
    (("weekly", "08:00"), "weekday"), (("monthly", "08:00"), "day"),
])
def test_bad_cadences(args, field):
    kw = {}
    with pytest.raises(CadenceProblem) as err:
        parse_cadence(*args, **kw)
    assert err.value.field == field
