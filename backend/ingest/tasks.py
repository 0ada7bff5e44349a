"""Worker job: process queued imports batch by batch."""

from __future__ import annotations

from datetime import datetime

from backend.ingest import service


def process_imports(bind, now: datetime) -> int:
    return service.process_imports(bind, now)
