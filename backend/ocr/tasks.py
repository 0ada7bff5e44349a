"""Worker job: read queued contracts (backend/ocr/service.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from backend.ocr import service

MAX_FILE_BYTES = 50_000_000  # uploads were capped by settings.max_upload_bytes already


def read_contracts(bind, now: datetime, upload_dir: Path) -> int:
    return service.read_contracts(bind, now, upload_dir=upload_dir, max_bytes=MAX_FILE_BYTES)
