"""The watched folder connector kind: CSV/xlsx exports dropped into a folder on the server (an old
ERP's scheduled Excel export), each file taken once.

A file is claimed by renaming it into `processing/` (a rename succeeds for one taker only, so two
runners never take the same file), read with the import's reader (backend/ingest/csvfile.py), each
row through the connector record path (backend/connectors/runner.py: created or updated by
(source, external id), row errors kept with the record), then moved to `done/` (even with some bad
rows) or `failed/` (the file cannot be read). A file still being written (younger than
`settle_seconds`, or its size/mtime changing between two looks) is left for the next run. Files a
crashed run left in `processing/` are this connector's own (its lease is held) and are read again:
re-reading is harmless (an order already there is "unchanged").

The folder must be inside the allowed root (GENDAN_CONNECTOR_FOLDER_ROOT, default
<data_dir>/inbox): '..', absolute paths elsewhere and symlinks out of it are refused.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.connectors.schemas import FolderSettings
from backend.errors import GendanError
from backend.ingest.csvfile import read_table
from backend.ingest.rows import ParsedRow
from backend.ingest.schemas import ImportMapping, RowError
from backend.settings import get_settings

ROOT_VARIABLE = "GENDAN_CONNECTOR_FOLDER_ROOT"
PROCESSING, DONE, FAILED = "processing", "done", "failed"
SAMPLE_ROWS = 5


def root() -> Path:
    """The allowed root, resolved (created when missing)."""
    configured = os.environ.get(ROOT_VARIABLE, "").strip()
    base = Path(configured) if configured else get_settings().data_dir / "inbox"
    base.mkdir(parents=True, exist_ok=True)
    return base.resolve()


def resolve(folder: str) -> Path:
    """The configured folder as a real path inside the root; GendanError otherwise."""
    text = folder.strip()
    if not text or "\x00" in text:
        raise GendanError("connector.folder_outside", {"path": text[:200], "root": str(root())})
    allowed = root()
    raw = Path(text)
    if ".." in raw.parts:
        raise GendanError("connector.folder_outside", {"path": text[:200], "root": str(allowed)})
    candidate = raw if raw.is_absolute() else allowed / raw
    real = candidate.resolve()  # follows symlinks: a link out of the root lands outside it
    if real != allowed and allowed not in real.parents:
        raise GendanError("connector.folder_outside", {"path": text[:200], "root": str(allowed)})
    return real


def existing(folder: str) -> Path:
    path = resolve(folder)
    if not path.is_dir():
        raise GendanError("connector.folder_missing", {"path": folder[:200]})
    return path


@dataclass
class Waiting:
    name: str
    size: int
    mtime: float


def waiting(path: Path, settings: FolderSettings, *, clock: Callable[[], float] = time.time,
            limit: int | None = None) -> list[Waiting]:
    """Settled files matching the pattern, oldest first (symlinks and subfolders are ignored)."""
    patterns = [p.strip() for p in settings.pattern.replace(";", ",").split(",") if p.strip()]
    now = clock()
    found: list[Waiting] = []
    with os.scandir(path) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
                continue
            if not any(fnmatch.fnmatch(entry.name.lower(), p.lower()) for p in patterns):
                continue
            info = entry.stat(follow_symlinks=False)
            if now - info.st_mtime < settings.settle_seconds:
                continue  # still being written, perhaps: the next run looks again
            found.append(Waiting(entry.name, info.st_size, info.st_mtime))
    found.sort(key=lambda w: (w.mtime, w.name))
    return found[:limit] if limit is not None else found


def claim(path: Path, file: Waiting, tag: str) -> Path | None:
    """Take the file (rename into processing/); None when it changed since the first look
    (still being written) or another runner took it first."""
    source = path / file.name
    try:
        info = source.lstat()
    except FileNotFoundError:
        return None
    if info.st_size != file.size or info.st_mtime != file.mtime:
        return None
    target = subfolder(path, PROCESSING) / f"{tag}{file.name}"
    try:
        os.rename(source, target)  # atomic: one taker only
    except FileNotFoundError:
        return None
    return target


def subfolder(path: Path, name: str) -> Path:
    """processing/, done/ or failed/ (made when missing); a symlink there would lead out of the root."""
    folder = path / name
    if folder.is_symlink():
        raise GendanError("connector.folder_outside", {"path": str(folder)[:200], "root": str(root())})
    folder.mkdir(exist_ok=True)
    return folder


def left_over(path: Path, tag_prefix: str) -> list[Path]:
    """Files a crashed run of this connector left in processing/ (the caller holds its lease)."""
    folder = path / PROCESSING
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(tag_prefix) and p.is_file()
                  and not p.is_symlink())


def finish(path: Path, claimed: Path, outcome: str, tag_prefix: str) -> str:
    """Move a claimed file to done/ or failed/ under its own name (numbered if taken); the new name."""
    name = original_name(claimed.name, tag_prefix)
    target_dir = subfolder(path, outcome)
    target = target_dir / name
    stem, suffix = os.path.splitext(name)
    number = 1
    while target.exists():
        number += 1
        target = target_dir / f"{stem}.{number}{suffix}"
    os.rename(claimed, target)
    return target.name


def original_name(name: str, tag_prefix: str) -> str:
    if name.startswith(tag_prefix):
        rest = name[len(tag_prefix):]
        return rest.split("-", 1)[1] if "-" in rest else rest
    return name


def read_rows(file: Path, settings: FolderSettings, max_bytes: int) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a file; GendanError when it is too large, has too many rows or cannot be read."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise GendanError("connector.file_too_large", {"limit": max_bytes})
        with open(file, "rb") as handle:
            content = handle.read(max_bytes + 1)
    except OSError as exc:
        raise GendanError("connector.file_unreadable", {"error": exc.strerror or type(exc).__name__}) from exc
    if len(content) > max_bytes:
        raise GendanError("connector.file_too_large", {"limit": max_bytes})
    headers, rows, _, _ = read_table(content)
    if len(rows) > settings.max_rows_per_file:
        raise GendanError("connector.file_too_many_rows", {"limit": settings.max_rows_per_file})
    return headers, rows


def row_record(file_name: str, line: int, headers: list[str], row: list[str]) -> dict[str, Any]:
    """A row as the record kept with its errors: the file, its row number and its cells."""
    return {"file": file_name, "row": line, "values": dict(zip(headers, row, strict=False))}


def parse_file_row(line: int, headers: list[str], row: list[str], mapping: ImportMapping, zone,
                   fields) -> ParsedRow:
    """A file row as the import wizard reads it: cells by column header."""
    from backend.connectors.records import parse_transformed

    cells = {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)}
    parsed = parse_transformed(line, cells, mapping, zone, fields, lambda header: cells.get(header, ""))
    if not parsed.values.get("external_id"):
        column = mapping.columns.get("external_id", "")
        parsed.errors.append(RowError(line=line, column=column, field="external_id",
                                      code="connector.record_id_missing", params={"path": column}))
    return parsed


def check_mapping(mapping: ImportMapping) -> dict[str, tuple[str, dict[str, Any]]]:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    if "external_id" not in mapping.columns:
        fields["mapping.external_id"] = ("connector.external_id_unmapped", {})
    return fields


def sample(settings: FolderSettings, max_bytes: int) -> tuple[str | None, list[dict[str, str]]]:
    """The oldest waiting file's name and first rows as {header: cell} (nothing is moved)."""
    path = existing(settings.folder)
    files = waiting(path, settings, limit=1)
    if not files:
        return None, []
    headers, rows = read_rows(path / files[0].name, settings, max_bytes)
    return files[0].name, [dict(zip(headers, r, strict=False)) for r in rows[:SAMPLE_ROWS]]
