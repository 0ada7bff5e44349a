"""Attachments of form fields: stored under settings.upload_dir/forms/<id> with a JSON sidecar.

The id is random (uuid4), so a reference in order data cannot be guessed from another; downloads
still require a signed-in user. Size is bounded by the request body limit (settings.max_body_bytes).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from backend.errors import GendanError

_ID = re.compile(r"^[0-9a-f]{32}$")


def _folder(upload_dir: Path) -> Path:
    folder = Path(upload_dir) / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store(upload_dir: Path, *, name: str, content_type: str, content: bytes, actor_id: int) -> dict[str, Any]:
    file_id = uuid.uuid4().hex
    folder = _folder(upload_dir)
    (folder / file_id).write_bytes(content)
    ref = {"id": file_id, "name": Path(name).name[:200] or "file", "size": len(content),
           "content_type": content_type[:100]}
    (folder / f"{file_id}.json").write_text(json.dumps({**ref, "uploaded_by": actor_id}), encoding="utf-8")
    return ref


def load(upload_dir: Path, file_id: str) -> tuple[Path, dict[str, Any]]:
    folder = _folder(upload_dir)
    if not _ID.match(file_id) or not (folder / file_id).is_file():
        raise GendanError("form.upload_not_found", {"id": file_id})
    meta = json.loads((folder / f"{file_id}.json").read_text(encoding="utf-8"))
    return folder / file_id, meta
