"""Attachments of form fields: stored under settings.upload_dir/forms/<id> with a JSON sidecar.

The id is random (uuid4), so a reference in order data cannot be guessed from another; downloads
still require a signed-in user. Size is bounded by the request body limit (settings.max_body_bytes).

Uploading is writing: a viewer or a read-only key may not (checked here, so the API and the order
page refuse alike). A file is served as the browser's own type only when that type cannot run
script (a few raster images); anything else (HTML, SVG, ...) is a download of opaque bytes, so an
uploaded page never runs in Gendan's origin. Files never attached to an order are deleted after a day.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.engine import Engine

from backend.auth.actor import Actor
from backend.db import new_session
from backend.errors import GendanError

_ID = re.compile(r"^[0-9a-f]{32}$")
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
ORPHAN_AFTER = timedelta(hours=24)


def _folder(upload_dir: Path) -> Path:
    folder = Path(upload_dir) / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store(upload_dir: Path, *, actor: Actor, name: str, content_type: str, content: bytes,
          now: datetime) -> dict[str, Any]:
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    file_id = uuid.uuid4().hex
    folder = _folder(upload_dir)
    (folder / file_id).write_bytes(content)
    ref = {"id": file_id, "name": Path(name).name[:200] or "file", "size": len(content),
           "content_type": content_type[:100]}
    sidecar = {**ref, "uploaded_by": actor.user_id, "uploaded_at": now.isoformat()}
    (folder / f"{file_id}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return ref


def load(upload_dir: Path, file_id: str) -> tuple[Path, dict[str, Any]]:
    folder = _folder(upload_dir)
    if not _ID.match(file_id) or not (folder / file_id).is_file():
        raise GendanError("form.upload_not_found", {"id": file_id})
    meta = json.loads((folder / f"{file_id}.json").read_text(encoding="utf-8"))
    return folder / file_id, meta


def served_type(meta: dict[str, Any]) -> tuple[str, bool]:
    """(media type, inline?) to serve a stored file with: never the uploader's word for active content."""
    declared = str(meta.get("content_type") or "").split(";")[0].strip().lower()
    if declared in INLINE_TYPES:
        return declared, True
    return "application/octet-stream", False


def _is_referenced(session, file_id: str) -> bool:
    from backend.orders.models import Order, OrderEvent

    in_orders = select(Order.id).where(cast(Order.data, String).contains(file_id)).limit(1)
    in_history = select(OrderEvent.id).where(or_(cast(OrderEvent.before, String).contains(file_id),
                                                 cast(OrderEvent.after, String).contains(file_id))).limit(1)
    return session.execute(in_orders).first() is not None or session.execute(in_history).first() is not None


def delete_orphans(upload_dir: Path, bind: Engine, now: datetime, *, older_than: timedelta = ORPHAN_AFTER) -> int:
    """Delete uploads older than `older_than` that no order (nor its history) mentions. A file found
    attached is marked so, and never looked at again. Returns how many were deleted."""
    deleted = 0
    folder = _folder(upload_dir)
    with new_session(bind, writes=False) as session:
        for sidecar in folder.glob("*.json"):
            file_id = sidecar.stem
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            uploaded = meta.get("uploaded_at")
            if not _ID.match(file_id) or meta.get("attached") or not uploaded \
                    or now - datetime.fromisoformat(uploaded) < older_than:
                continue
            if _is_referenced(session, file_id):
                sidecar.write_text(json.dumps({**meta, "attached": True}), encoding="utf-8")
                continue
            (folder / file_id).unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            deleted += 1
    return deleted
