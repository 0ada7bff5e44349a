"""Worker job: process queued imports batch by batch."""

from __future__ import annotations

from datetime import datetime

from backend.ingest import service
from backend.worker.runner import register


@register("ingest.process_imports", every_seconds=1)
def process_imports(bind, now: datetime) -> int:
    return service.process_imports(bind, now)
