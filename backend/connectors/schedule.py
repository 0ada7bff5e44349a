"""When a connector runs next: every N minutes, or a cron line read in the installation's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from backend.errors import GendanError
from engine.connectors import cron


def check(minutes: int | None, cron_line: str | None) -> None:
    if cron_line:
        try:
            cron.parse(cron_line)
        except cron.CronError:
            raise GendanError("connector.cron_invalid", {"value": cron_line[:100]}) from None
    elif not minutes:
        raise GendanError("connector.schedule_missing", {})


def next_run(minutes: int | None, cron_line: str | None, after: datetime, zone: ZoneInfo) -> datetime:
    if cron_line:
        return cron.next_after(cron_line, after, zone)
    return after + timedelta(minutes=minutes or 5)
