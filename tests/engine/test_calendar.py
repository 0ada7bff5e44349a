"""Business calendar: working hours between two moments and adding working hours."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.calendar import (
    BusinessCalendar,
    CalendarError,
    WorkingPeriod,
    add_working_hours,
    working_hours_between,
)

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()  # Mon-Fri 09-12, 13-18 Shanghai: 8 h a day


def sh(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


class TestWorkingHoursBetween:
    @pytest.mark.parametrize(
        ("start", "end", "hours"),
        [
            (sh(2026, 11, 23, 9), sh(2026, 11, 23, 18), 8.0),  # a Monday, lunch excluded
            (sh(2026, 11, 23, 10), sh(2026, 11, 23, 14), 3.0),  # 10-12 + 13-14
            (sh(2026, 11, 23, 12, 15), sh(2026, 11, 23, 12, 45), 0.0),  # lunch
            (sh(2026, 11, 27, 17), sh(2026, 11, 30, 10), 2.0),  # Friday 17:00 to Monday 10:00
            (sh(2026, 11, 28, 9), sh(2026, 11, 29, 18), 0.0),  # a weekend
            (sh(2026, 11, 23, 0), sh(2026, 11, 30, 0), 40.0),  # a whole week
            (sh(2026, 11, 23, 19), sh(2026, 11, 24, 8), 0.0),  # overnight
        ],
    )
    def test_counts_only_working_periods(self, start, end, hours):
        assert working_hours_between(start, end, CAL) == pytest.approx(hours)

    def test_end_before_start_is_negative(self):
        assert working_hours_between(sh(2026, 11, 23, 18), sh(2026, 11, 23, 9), CAL) == pytest.approx(-8.0)

    def test_holiday_and_makeup_working_day(self):
        # National Day style: Thursday off, the Saturday after it is worked (调休).
        cal = BusinessCalendar(holidays={date(2026, 11, 26)}, extra_working_days={date(2026, 11, 28)})
        assert working_hours_between(sh(2026, 11, 26), sh(2026, 11, 27), cal) == 0.0
        assert working_hours_between(sh(2026, 11, 28), sh(2026, 11, 29), cal) == pytest.approx(8.0)
        assert working_hours_between(sh(2026, 11, 23), sh(2026, 11, 30), cal) == pytest.approx(40.0)

    def test_utc_inputs_use_the_calendar_zone(self):
        # 01:00 UTC = 09:00 Shanghai; 10:00 UTC = 18:00 Shanghai.
        start = datetime(2026, 11, 23, 1, tzinfo=UTC)
        end = datetime(2026, 11, 23, 10, tzinfo=UTC)
        assert working_hours_between(start, end, CAL) == pytest.approx(8.0)

    def test_dst_day_counts_wall_clock_hours(self):
        # Berlin springs forward on 2026-03-29 (a Sunday); make it a working day 00:00-06:00.
        cal = BusinessCalendar(
            timezone="Europe/Berlin",
            working_weekdays={6},
            periods=(WorkingPeriod(start=time(0), end=time(6)),),
        )
        berlin = ZoneInfo("Europe/Berlin")
        hours = working_hours_between(
            datetime(2026, 3, 29, 0, tzinfo=berlin), datetime(2026, 3, 30, 0, tzinfo=berlin), cal
        )
        assert hours == pytest.approx(5.0)  # the 02:00-03:00 hour does not exist

    def test_naive_datetime_is_refused(self):
        with pytest.raises(CalendarError) as err:
            working_hours_between(datetime(2026, 11, 23, 9), sh(2026, 11, 23, 18), CAL)
        assert err.value.code == "calendar.naive_datetime"
        assert err.value.params == {"argument": "start"}


class TestAddWorkingHours:
    @pytest.mark.parametrize(
        ("start", "hours", "expected"),
        [
            (sh(2026, 11, 23, 9), 8, sh(2026, 11, 23, 18)),
            (sh(2026, 11, 23, 11), 2, sh(2026, 11, 23, 14)),  # skips lunch
            (sh(2026, 11, 27, 17), 2, sh(2026, 11, 30, 10)),  # Friday into Monday
            (sh(2026, 11, 28, 12), 1, sh(2026, 11, 30, 10)),  # starts on a Saturday
            (sh(2026, 11, 23, 20), 0.5, sh(2026, 11, 24, 9, 30)),  # after hours
            (sh(2026, 11, 23, 9), 40, sh(2026, 11, 27, 18)),
            (sh(2026, 11, 23, 20), 0, sh(2026, 11, 23, 20)),
        ],
    )
    def test_lands_on_working_time(self, start, hours, expected):
        result = add_working_hours(start, hours, CAL)
        assert result == expected
        assert result.tzinfo is UTC

    def test_holiday_is_skipped(self):
        cal = BusinessCalendar(holidays={date(2026, 11, 24)})
        assert add_working_hours(sh(2026, 11, 23, 17), 2, cal) == sh(2026, 11, 25, 10)

    def test_negative_hours_refused(self):
        with pytest.raises(CalendarError) as err:
            add_working_hours(sh(2026, 11, 23, 9), -1, CAL)
        assert err.value.code == "calendar.negative_hours"

    def test_calendar_without_working_time_refused(self):
        cal = BusinessCalendar(working_weekdays=frozenset())
        with pytest.raises(CalendarError) as err:
            add_working_hours(sh(2026, 11, 23, 9), 1, cal)
        assert err.value.code == "calendar.no_working_time"


class TestCalendarDefinition:
    def test_unknown_timezone_refused(self):
        with pytest.raises(ValidationError, match="calendar.unknown_timezone"):
            BusinessCalendar(timezone="Mars/Olympus")

    def test_overlapping_periods_refused(self):
        with pytest.raises(ValidationError, match="calendar.periods_overlap"):
            BusinessCalendar(
                periods=(
                    WorkingPeriod(start=time(9), end=time(13)),
                    WorkingPeriod(start=time(12), end=time(18)),
                )
            )

    def test_empty_period_refused(self):
        with pytest.raises(ValidationError, match="calendar.period_empty"):
            WorkingPeriod(start=time(18), end=time(9))

    def test_json_round_trip(self):
        cal = BusinessCalendar(holidays={date(2026, 10, 1)}, extra_working_days={date(2026, 10, 10)})
        assert BusinessCalendar.model_validate_json(cal.model_dump_json()) == cal


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    hours=st.floats(min_value=0.01, max_value=200, allow_nan=False),
)
def test_add_then_measure_is_identity(start, hours):
    """Adding h working hours and measuring back gives h; the result is inside working time."""
    end = add_working_hours(start, hours, CAL)
    assert working_hours_between(start, end, CAL) == pytest.approx(hours, abs=1e-6)
    local = end.astimezone(SH)
    assert CAL.is_working_day(local.date())
    assert any(p.start < local.time() <= p.end for p in CAL.periods)
    assert end - start >= timedelta(hours=hours)
