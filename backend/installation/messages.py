"""Messages for the installation calendar's error codes (English msgids; Chinese in calendar.po;
read by backend/i18n.py)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "calendar.*": "The calendar is not valid.",
    "calendar.invalid": "Please correct the marked fields.",
    "calendar.unknown_timezone": "Unknown time zone %(timezone)s.",
    "calendar.period_invalid": "Write each working period as 09:00-12:00, its start before its end (not %(value)s).",
    "calendar.periods_overlap": "The working periods %(first)s and %(second)s overlap.",
    "calendar.date_invalid": "%(value)s is not a date (write 2027-10-01).",
    "calendar.range_too_long": "A range of dates may span at most %(max)s days (%(value)s).",
    "calendar.range_reversed": "%(value)s ends before it starts: write the earlier day first, as 2027-10-01~2027-10-07.",
    "calendar.too_many_dates": "At most %(max)s dates.",
    "calendar.date_in_both": "%(date)s is both a holiday and an extra working day.",
    "calendar.no_working_time": "Choose at least one working day and one working period.",
    "calendar.currency_invalid": "Write the currency as three capital letters, such as CNY.",
}
