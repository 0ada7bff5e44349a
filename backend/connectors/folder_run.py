"""One run of a watched folder connector (called by backend/connectors/runner.py under the
connector's lease): files left over by a crashed run first, then the settled waiting files, each
claimed, its rows through the connector record path, then moved to done/ or failed/."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from backend.connectors import folder
from backend.connectors.models import Connector, ConnectorRecordError
from backend.connectors.runner import RunContext, _book, _record
from backend.errors import GendanError
from backend.settings import get_settings


def run_files(session: Session, ctx: RunContext) -> int:
    """Files taken in this run."""
    settings = ctx.config
    path = folder.existing(settings.folder)
    prefix = f"c{ctx.connector_id}-"
    claimed: list[Path] = folder.left_over(path, prefix)[:settings.max_files_per_run]
    for file in folder.waiting(path, settings):
        if len(claimed) >= settings.max_files_per_run:
            break
        taken = folder.claim(path, file, f"{prefix}r{ctx.run_id}-")
        if taken is not None:
            claimed.append(taken)
    max_bytes = get_settings().max_upload_bytes
    for file in claimed:
        _one_file(session, ctx, path, file, prefix, max_bytes)
    return len(claimed)


def _one_file(session: Session, ctx: RunContext, path: Path, file: Path, prefix: str, max_bytes: int) -> None:
    name = folder.original_name(file.name, prefix)
    try:
        headers, rows = folder.read_rows(file, ctx.config, max_bytes)
    except GendanError as exc:
        _unreadable(session, ctx, name, exc)
        folder.finish(path, file, folder.FAILED, prefix)
        return
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1, as in the import wizard
        parsed = folder.parse_file_row(line, headers, row, ctx.mapping, ctx.zone, ctx.fields)
        _record(session, ctx, line, folder.row_record(name, line, headers, row), None, parsed)
    folder.finish(path, file, folder.DONE, prefix)


def _unreadable(session: Session, ctx: RunContext, name: str, exc: GendanError) -> None:
    """The file as one failed record: its name and why it cannot be read (it goes to failed/)."""
    record = {"file": name, "row": 0}
    errors = [{"line": 0, "column": None, "field": "_", "code": exc.code,
               "params": {k: v if isinstance(v, (str, int, float)) else str(v) for k, v in exc.params.items()}}]
    _book(session, ctx, "failed", record, None)
    session.add(ConnectorRecordError(connector_id=ctx.connector_id, run_id=ctx.run_id, position=0,
                                     external_id=None, record=record, errors=errors, created_at=ctx.now))
    connector = session.get(Connector, ctx.connector_id)
    connector.last_error_record = {"run_id": ctx.run_id, "position": 0, "external_id": None, "errors": errors,
                                   "record": record}
    ctx.lease.fence(session)
    session.commit()
