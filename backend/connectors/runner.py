"""Running a connector (the worker job and "run now"): read the source page by page, each record
through the order pipeline, the cursor moving in the same transaction as the record it covers.

Each record is one transaction, as each import row is (backend/ingest/service.py): its order is
created or updated by (source, external_id) with only the fields that differ, or its errors are
kept with the record; the run's counters and the connector's cursor ride in that same
transaction. So a crash or a lost lease mid-page leaves the cursor at the last record committed:
the next run reads on from there and re-reading is harmless (an existing order is "unchanged").
A lease per connector (backend/worker/lease.py) keeps two workers off the same connector; one
connector failing never stops the others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from backend import i18n
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.connectors import crypto, page_position
from backend.connectors import schedule as connector_schedule
from backend.connectors.http_pull import HttpPull
from backend.connectors.models import Connector, ConnectorRecordError, ConnectorRun
from backend.connectors.records import cells, lookup_in, parse_transformed
from backend.connectors.schemas import FolderSettings, HttpJsonSettings
from backend.connectors.sql_pull import SqlPull, server_identity
from backend.connectors.sql_settings import SqlPullSettings
from backend.connectors.vendor_settings import VendorSettings
from backend.db import new_session
from backend.errors import GendanError
from backend.ingest import service as ingest_service
from backend.ingest import via as customer_via
from backend.ingest.rows import CellError, DataField, ParsedRow, parse_instant
from backend.ingest.schemas import ImportMapping, RowError
from backend.installation.service import get_installation
from backend.notify.models import Notification
from backend.orders import service as orders_service
from backend.orders.schemas import OrderCreate, OrderUpdate
from backend.people.models import User
from backend.worker import lease as worker_lease
from engine.connectors import jsonpath, paging

log = logging.getLogger("gendan.connectors")
LEASE_TTL = timedelta(minutes=5)
MAX_RECORD_CHARS = 20_000
DUE_PER_TICK = 20
BATCH_RECORDS = 1000  # records per transaction (backend/connectors/batch.py); 1: record by record


@dataclass
class RunContext:
    connector_id: int
    run_id: int
    lease: worker_lease.Lease
    actor: Actor
    mapping: ImportMapping
    config: HttpJsonSettings | FolderSettings | SqlPullSettings | VendorSettings
    zone: ZoneInfo
    fields: dict[str, DataField]
    now: datetime


def run_due_connectors(bind: Engine | Connection, now: datetime) -> int:
    """The worker job: every enabled connector whose next run is due. Returns records read."""
    with new_session(bind) as session:
        due = session.exec(select(Connector.id).where(Connector.is_enabled.is_(True), Connector.next_run_at <= now)
                           .order_by(Connector.next_run_at).limit(DUE_PER_TICK)).scalars().all()
    read = 0
    for connector_id in due:
        try:
            run = run_connector(bind, connector_id, now, trigger="schedule")
        except Exception:  # one connector's bug must not stop the others; it shows in the log
            log.exception("connector %s: run failed", connector_id)
            continue
        read += run.read_count if run is not None else 0
    return read


def run_connector(bind: Engine | Connection, connector_id: int, now: datetime, *, trigger: str = "schedule",
                  client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                  elapsed: Callable[[], float] = time.monotonic) -> ConnectorRun | None:
    """One run under the connector's lease; None when another worker holds it (or nothing is due)."""
    lease = worker_lease.acquire(bind, f"connector:{connector_id}", LEASE_TTL)
    if lease is None:
        return None
    try:
        with customer_via.channel(_channel(bind, connector_id)):
            return _run(bind, lease, connector_id, now, trigger, client, sleep, elapsed)
    except worker_lease.LeaseLost:
        log.warning("connector %s: lease lost mid-run; the next holder reads on from the cursor", connector_id)
        return None
    finally:
        worker_lease.release(bind, lease)


def _channel(bind: Engine | Connection, connector_id: int) -> str | None:
    """"connector: <name>", written into the audit row of each customer the run creates."""
    with new_session(bind) as session:
        name = session.exec(select(Connector.name).where(Connector.id == connector_id)).scalars().first()
    return f"connector: {name}" if name else None


def _run(bind, lease, connector_id, now, trigger, client, sleep, elapsed) -> ConnectorRun | None:
    began = elapsed()
    with new_session(bind) as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            return None
        if trigger == "schedule" and (not connector.is_enabled or connector.next_run_at is None
                                      or connector.next_run_at > now):
            return None  # another worker ran it since we looked
        run = ConnectorRun(connector_id=connector_id, trigger=trigger, started_at=now)
        session.add(run)
        connector.last_run_at = now
        lease.fence(session)
        session.commit()
        run_id = run.id
        error: dict[str, Any] | None = None
        try:
            ctx = _context(session, connector, run_id, lease, now)
            cursor = dict(connector.cursor or {})
            if connector.kind == "folder":
                from backend.connectors import folder_run

                folder_run.run_files(session, ctx)
            elif connector.kind == "vendor":
                from backend.connectors import vendor_run

                vendor_run.run(session, ctx, crypto.decrypt(connector.secrets), cursor, client, sleep)
            elif isinstance(ctx.config, SqlPullSettings):
                own = server_identity(session.connection())
                with SqlPull(ctx.config, crypto.decrypt(connector.secrets), own=own) as pull:
                    numbered = ((position, record, token)
                                for position, (record, token) in enumerate(pull.records(cursor), start=1))
                    for batch in _chunked(numbered, BATCH_RECORDS):
                        _records(session, ctx, batch)
            else:
                _pull(session, ctx, connector, cursor, client, sleep)
        except GendanError as exc:
            session.rollback()
            error = {"code": exc.code, "params": _jsonable(exc.params)}
        except worker_lease.LeaseLost:
            raise
        except Exception as exc:  # a bug: the run fails visibly, the record's transaction is undone
            log.exception("connector %s run %s: unexpected error", connector_id, run_id)
            session.rollback()
            error = {"code": "connector.run_internal", "params": {"error": type(exc).__name__}}
        return _finish(session, lease, connector_id, run_id, now + timedelta(seconds=max(0.0, elapsed() - began)),
                       error)


def _pull(session: Session, ctx: RunContext, connector: Connector, cursor: dict[str, Any], client, sleep) -> None:
    """Page by page; a page a stopped run was inside is asked again and the records it wrote are
    skipped, not processed (backend/connectors/page_position.py)."""
    config = ctx.config
    at = page_position.stored(config, cursor)
    since = str(cursor.get("since") or config.initial_since)
    if at is not None and config.paging in ("page", "offset"):
        since = str(at.get("since") or "")  # the pages as they were numbered when the position was stored
    with HttpPull(config, crypto.decrypt(connector.secrets), since=since, token=str(cursor.get("token") or ""),
                  client=client, sleep=sleep) as pull:
        start = page_position.request_of(config, pull.plan, at) if at is not None else None
        if start is None:
            at = None
        pull.start = start
        id_path = ctx.mapping.columns.get("external_id", "")
        position = 0
        for page in pull.pages():
            ids = [page_position.record_id(config, id_path, record) for record in page.records]
            skip = paging.skip_count(ids, int(at.get("done") or 0), str(at.get("id") or "")) if at else 0
            at = None  # only the first page can be the one a stopped run was inside
            numbered = [(position + i - skip, record, page_position.after(config, page, since, i, ids[i - 1]))
                        for i, record in enumerate(page.records[skip:], start=skip + 1)]
            position += len(numbered)
            if skip:
                log.info("connector %s: %s records of page %s written before, skipped", ctx.connector_id, skip,
                         page.request.page if page.request else "?")
            _records(session, ctx, numbered)
            if not numbered:  # an empty page, or one whose records were all written: the position moves on
                _book(session, ctx, None, None,
                      page_position.after(config, page, since, page.count, ids[-1] if ids else ""))
                session.commit()


def _context(session: Session, connector: Connector, run_id: int, lease, now: datetime) -> RunContext:
    actor = auth_service.load_actor(session, connector.owner_id, via="connector")
    if actor is None or not actor.is_admin:
        raise GendanError("connector.owner_inactive", {"id": connector.owner_id})
    mapping = ImportMapping.model_validate(connector.mapping)
    zone = ZoneInfo(mapping.timezone) if mapping.timezone else get_installation(session).zone
    return RunContext(connector_id=connector.id, run_id=run_id, lease=lease, actor=actor, mapping=mapping,
                      config=settings_for(connector.kind, connector.settings), zone=zone,
                      fields=ingest_service.data_fields(session), now=now)


def settings_for(kind: str, settings: dict[str, Any]) \
        -> HttpJsonSettings | FolderSettings | SqlPullSettings | VendorSettings:
    """A saved connector's settings as its kind's model."""
    model = {"sql": SqlPullSettings, "folder": FolderSettings, "vendor": VendorSettings}.get(kind, HttpJsonSettings)
    return model.model_validate(settings)


# ---------------------------------------------------------------- a batch of records, one transaction

def _records(session: Session, ctx: RunContext, numbered: list[tuple[int, Any, Any]]) -> None:
    """(position, record, token) of consecutive records: set-based a batch at a time (backend/
    connectors/batch.py), a batch the set-based path declines record by record."""
    from backend.connectors import batch

    size = max(BATCH_RECORDS, 1)
    for i in range(0, len(numbered), size):
        part = numbered[i:i + size]
        if size > 1 and batch.write_batch(session, ctx, part):
            continue
        for position, record, token in part:
            _record(session, ctx, position, record, token)


def _chunked(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= max(size, 1):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------- one record, one transaction

def parse_record(position: int, record: Any, mapping: ImportMapping, zone: ZoneInfo,
                 fields: dict[str, DataField]) -> ParsedRow:
    """The record as an import row; a record that is not an object or lacks its id is an error."""
    if not isinstance(record, dict):
        row = ParsedRow(line=position)
        row.errors.append(RowError(line=position, column=None, field="_", code="connector.record_not_object"))
        return row
    row = parse_transformed(position, cells(record, mapping), mapping, zone, fields, lookup_in(record))
    if not row.values.get("external_id"):
        path = mapping.columns.get("external_id", "")
        row.errors.append(RowError(line=position, column=path, field="external_id",
                                   code="connector.record_id_missing", params={"path": path}))
    return row


def _record(session: Session, ctx: RunContext, position: int, record: Any, token: str | None,
            parsed: ParsedRow | None = None) -> None:
    if parsed is None and isinstance(ctx.config, VendorSettings):
        from backend.connectors import vendor_update  # update-only templates (e.g. MES progress)

        parsed = vendor_update.parse(position, record, ctx)
    parsed = parsed or parse_record(position, record, ctx.mapping, ctx.zone, ctx.fields)
    errors = list(parsed.errors)
    # write first (as imports do): SQLite then queues this transaction instead of failing it later
    session.execute(update(ConnectorRun).where(ConnectorRun.id == ctx.run_id)
                    .values(read_count=ConnectorRun.read_count))
    if not errors:
        try:
            errors = _write(session, ctx, parsed, record, token)
        except GendanError as exc:
            session.rollback()
            errors = ingest_service._errors_from(exc, parsed, ctx.mapping)
        except SQLAlchemyError as exc:  # one broken record must not stop the run
            log.exception("connector %s record %s: unexpected database error", ctx.connector_id, position)
            session.rollback()
            errors = [RowError(line=position, column=None, field="_", code="import.row_internal",
                               params={"error": type(exc).__name__})]
    if not errors:
        return
    external_id = _no_nul(str(parsed.values.get("external_id") or ""))[:120] or None
    stored = _no_nul([e.model_dump(mode="json") for e in errors])
    _book(session, ctx, "failed", record, token)
    session.add(ConnectorRecordError(connector_id=ctx.connector_id, run_id=ctx.run_id, position=position,
                                     external_id=external_id, record=_bounded(record), errors=stored,
                                     created_at=ctx.now))
    connector = session.get(Connector, ctx.connector_id)
    connector.last_error_record = {"run_id": ctx.run_id, "position": position, "external_id": external_id,
                                   "errors": stored, "record": _bounded(record)}
    ctx.lease.fence(session)
    session.commit()


def _write(session: Session, ctx: RunContext, parsed: ParsedRow, record: Any, token: str | None) -> list[RowError]:
    """Create or update the record's order: [] when done (committed), else what is wrong (nothing written)."""
    if isinstance(ctx.config, VendorSettings):
        from backend.connectors import vendor_update

        if vendor_update.applies(ctx.config):
            return vendor_update.write(session, ctx, parsed, record, token)
    customer_id, problem = ingest_service._customer_for(session, ctx.actor, ctx.mapping, parsed, ctx.now)
    if problem:
        session.rollback()
        return [problem]
    values = {**parsed.values, "customer_id": customer_id, "source": ctx.mapping.source}
    try:
        payload = OrderCreate.model_validate(values)
    except ValidationError as exc:
        session.rollback()
        return ingest_service._pydantic_errors(exc, parsed, ctx.mapping)
    existing = ingest_service._existing_order(session, payload)
    if existing is None:
        _book(session, ctx, "created", record, token)
        status = ingest_service._pending_status.set(parsed.status)
        try:
            orders_service.create_order(session, actor=ctx.actor, payload=payload, now=parsed.created_at or ctx.now,
                                        via="connector")
        finally:
            ingest_service._pending_status.reset(status)
        return []
    changes = ingest_service.changes_for(existing, payload, set(parsed.values) | {"customer_id"}, parsed.status)
    if changes.get("stage") is not None and ingest_service._flow_running(session, existing.id):
        changes.pop("stage")  # the running flow moves this order's stage
    if not changes:
        _book(session, ctx, "unchanged", record, token)
        session.commit()
        return []
    try:
        update_payload = OrderUpdate.model_validate({"version": existing.version, **changes})
    except ValidationError as exc:
        session.rollback()
        return ingest_service._pydantic_errors(exc, parsed, ctx.mapping)
    _book(session, ctx, "updated", record, token)
    orders_service.update_order(session, actor=ctx.actor, order_id=existing.id, payload=update_payload,
                                now=ctx.now, via="connector")
    return []


def _book(session: Session, ctx: RunContext, outcome: str | None, record: Any, token: str | None) -> None:
    """In the record's transaction: count it, move the cursor past it, check the lease is still ours."""
    if outcome is not None:
        column = getattr(ConnectorRun, f"{outcome}_count")
        session.execute(update(ConnectorRun).where(ConnectorRun.id == ctx.run_id).values(
            {ConnectorRun.read_count: ConnectorRun.read_count + 1, column: column + 1}))
    connector = session.get(Connector, ctx.connector_id)
    cursor = moved_cursor(ctx, dict(connector.cursor or {}), record, token)
    if cursor != connector.cursor:
        connector.cursor = cursor
    ctx.lease.fence(session)


def moved_cursor(ctx: RunContext, cursor: dict[str, Any], record: Any, token: Any) -> dict[str, Any]:
    """The cursor past `record` (`cursor` itself is changed and returned)."""
    if isinstance(token, page_position.Moved):  # an HTTP pull's place inside its pages
        if token.at is None:
            cursor.pop("at", None)
        else:
            cursor["at"] = token.at
        if token.token is not None and ctx.config.paging == "cursor":
            cursor["token"] = token.token
    elif isinstance(token, dict):  # a SQL pull's position (cursor value, key) of this very record
        cursor.update(token)
    elif not isinstance(ctx.config, HttpJsonSettings):  # a folder: its files are its position
        return cursor
    elif token is not None and ctx.config.paging == "cursor":  # a change feed: resume at its last page
        cursor["token"] = token
    if getattr(ctx.config, "since_path", "") and isinstance(record, dict):
        value = jsonpath.first(record, ctx.config.since_path)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and _later(str(value), cursor, ctx):
            cursor["since"] = str(value)[:40]
    return cursor


def _later(value: str, cursor: dict[str, Any], ctx: RunContext) -> bool:
    try:
        new = parse_instant(value, ctx.zone)
    except CellError:
        return False
    old = cursor.get("since")
    if not old:
        return True
    try:
        return new > parse_instant(str(old), ctx.zone)
    except CellError:
        return True


# ---------------------------------------------------------------- end of a run

def _finish(session: Session, lease, connector_id: int, run_id: int, finished_at: datetime,
            error: dict[str, Any] | None) -> ConnectorRun:
    connector = session.get(Connector, connector_id)
    run = session.get(ConnectorRun, run_id)
    run.status, run.finished_at, run.error = ("failed" if error else "ok"), finished_at, error
    connector.last_status = run.status
    if error:
        connector.failures_in_row += 1
        connector.last_error = {**error, "at": finished_at.isoformat()}
        if connector.failures_in_row >= connector.max_failures and connector.is_enabled:
            connector.is_enabled, connector.paused_reason = False, "failures"
            _tell_owner(session, connector, error, finished_at)
    else:
        connector.failures_in_row = 0
        connector.last_success_at = finished_at
    connector.next_run_at = connector_schedule.next_run(connector.schedule_minutes, connector.schedule_cron,
                                                        finished_at, get_installation(session).zone)
    connector.updated_at = finished_at
    lease.fence(session)
    session.commit()
    session.refresh(run)
    return run


def _tell_owner(session: Session, connector: Connector, error: dict[str, Any], now: datetime) -> None:
    owner = session.get(User, connector.owner_id)
    token = i18n.set_locale((owner.locale if owner is not None else None) or i18n.DEFAULT_LOCALE)
    try:
        reason = i18n.translate_error(error["code"], error.get("params") or {})
        params = {"name": connector.name, "count": connector.failures_in_row, "error": reason}
        title = i18n.translate_error("connector.paused_title", params)[:300]
        body = i18n.translate_error("connector.paused", params)[:4000]
    finally:
        i18n.reset_locale(token)
    session.add(Notification(dedupe_key=f"connector_paused:{connector.id}:{now.isoformat()}",
                             user_id=connector.owner_id, title=title, body=body, created_at=now))


def _bounded(record: Any) -> Any:
    text = json.dumps(record, ensure_ascii=False, default=str)
    if len(text) <= MAX_RECORD_CHARS:
        return _no_nul(record if isinstance(record, (dict, list)) else {"value": record})
    return {"_truncated": _no_nul(text[:MAX_RECORD_CHARS])}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in params.items()}


def _no_nul(value: Any) -> Any:
    return ingest_service._no_nul(value)
