"""Worker job: scheduled reports (backend/reports/schedules.py)."""

from __future__ import annotations

from datetime import datetime

from backend.reports import schedules
from backend.settings import get_settings


def send_schedules(bind, now: datetime) -> int:
    return schedules.send_due(bind, now, base_url=get_settings().public_base_url)
