"""Worker job: scheduled reports (backend/reports/schedules.py)."""

from __future__ import annotations

from datetime import datetime

from backend.reports import schedules
from backend.settings import SecretKeyError, ensure_secret_key, get_settings


def send_schedules(bind, now: datetime) -> int:
    # the key the server signs with (read from the data directory when not in the environment)
    settings = get_settings()
    try:
        settings, _ = ensure_secret_key(settings)
    except SecretKeyError:  # no key to sign with: DingTalk / Feishu get the table without the image link
        pass
    return schedules.send_due(bind, now, base_url=settings.public_base_url, secret=settings.secret_key or "")
