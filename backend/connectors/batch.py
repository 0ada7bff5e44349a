"""A connector's records a batch at a time on the import's set-based path
(backend/ingest/bulk.py:apply_rows): one transaction per batch of up to runner.BATCH_RECORDS records
(of one page for HTTP pulls), carrying the orders, the record errors, the run's counters and the connector's cursor.

The cursor after a batch is where the record-by-record path leaves it after the batch's last
record (the page's token once the page's last record is in, the latest `since` of its records),
and it moves only in the batch's transaction: a worker killed or a lease lost mid-batch leaves
none of the batch, so the next run reads the batch again and does each record once; nothing
committed is read past. What the set-based path cannot decide alone (a unique designed field, a
number in the automatic series, a database error) makes `write_batch` roll back and return False:
the caller then takes the batch record by record (backend/connectors/runner.py:_record), with the
same outcomes. Another error (a bug in a stage) is raised, as it is from a record's transaction,
and fails the run with the batch undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from backend import gc_pause
from backend.bulk_insert import insert_rows
from backend.connectors.models import Connector, ConnectorRecordError, ConnectorRun
from backend.connectors.runner import RunContext, _bounded, _no_nul, moved_cursor, parse_record
from backend.errors import GendanError
from backend.ingest import bulk


@dataclass
class _Tally:
    """What apply_rows counts on an import job, for one batch."""

    id: int = 0
    per_record: bool = False  # the owner is an admin (checked when the run starts)
    via: str = "connector"
    created_count: int = 0
    existing_count: int = 0
    updated_count: int = 0
    unchanged_count: int = 0
    failed_count: int = 0


@gc_pause.paused()
def write_batch(session: Session, ctx: RunContext, batch: list[tuple[int, Any, Any]]) -> bool:
    """(position, record, token) of consecutive records, set-based in one transaction. False
    (nothing written) when the batch must go record by record."""
    try:
        # write first (as imports do): SQLite then queues this transaction instead of failing it later
        session.execute(update(ConnectorRun).where(ConnectorRun.id == ctx.run_id)
                        .values(read_count=ConnectorRun.read_count))
        bulk.cursor_commit(session)  # the connector's cursor moves in this transaction
        items = [bulk._Row(parsed=(parsed := parse_record(position, record, ctx.mapping, ctx.zone, ctx.fields)),
                           cells=[], errors=list(parsed.errors)) for position, record, _ in batch]
        tally = _Tally()
        bulk.apply_rows(session, tally, ctx.actor, ctx.mapping, items, ctx.now)
        session.execute(update(ConnectorRun).where(ConnectorRun.id == ctx.run_id).values({
            ConnectorRun.read_count: ConnectorRun.read_count + len(batch),
            ConnectorRun.created_count: ConnectorRun.created_count + tally.created_count,
            ConnectorRun.updated_count: ConnectorRun.updated_count + tally.updated_count,
            ConnectorRun.unchanged_count: ConnectorRun.unchanged_count + tally.unchanged_count,
            ConnectorRun.failed_count: ConnectorRun.failed_count + tally.failed_count}))
        failed = []
        for (position, record, _), item in zip(batch, items, strict=True):
            if not item.errors:
                continue
            external_id = _no_nul(str(item.parsed.values.get("external_id") or ""))[:120] or None
            failed.append({"connector_id": ctx.connector_id, "run_id": ctx.run_id, "position": position,
                           "external_id": external_id, "record": _bounded(record),
                           "errors": _no_nul([e.model_dump(mode="json") for e in item.errors]),
                           "created_at": ctx.now})
        insert_rows(session, ConnectorRecordError.__table__, failed, background=True)
        connector = session.get(Connector, ctx.connector_id)
        cursor = dict(connector.cursor or {})
        for _, record, token in batch:
            cursor = moved_cursor(ctx, cursor, record, token)
        if cursor != connector.cursor:
            connector.cursor = cursor
        if failed:
            last = failed[-1]
            connector.last_error_record = {"run_id": ctx.run_id, **{k: last[k] for k in (
                "position", "external_id", "errors", "record")}}
        ctx.lease.fence(session)
        session.commit()
        return True
    except (bulk.Fallback, SQLAlchemyError, GendanError):
        session.rollback()
        return False
