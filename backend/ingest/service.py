"""Import use cases: upload a CSV, preview and confirm its mapping, process it in batches (worker).

Every row passes the same order-change pipeline as the API (`orders_service.create_order` or
`update_order` one by one, or the bulk path's batched form of the same stages) and is idempotent on (source, external_id): a row whose
order exists (by source and external id, else by order number) updates the fields it carries
that differ (`updated`) or changes nothing (`unchanged`); importing the same file again creates
nothing new. A row without an external id gets `import-<job>-<line>`, so a job resumed after a
crash never doubles a row. A batch goes set-based in one transaction with the job's progress
(backend/ingest/bulk.py); the row-by-row path below is its reference and fallback, where each row
is its own transaction carrying the progress. Either way a bad row writes nothing (not even its
new customer), and progress is never counted twice.
"""

from __future__ import annotations

import contextvars
import csv
import hashlib
import io
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import defer
from sqlmodel import Session

from backend import i18n
from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.clock import as_utc
from backend.customers.models import Customer
from backend.customers.service import AUDITED as CUSTOMER_AUDITED
from backend.db import new_session
from backend.errors import GendanError, error_params
from backend.exports import neutralize_row
from backend.flows.models import FlowInstance
from backend.forms import service as forms_service
from backend.ingest import via
from backend.ingest.csvfile import read_table, suggest_mapping
from backend.ingest.models import ImportJob, ImportRowError, ImportRowResult
from backend.ingest.rows import DataField, ParsedRow, parse_row
from backend.ingest.schemas import (
    CORE_TARGETS,
    DATA_KEY,
    ImportMapping,
    ImportPreview,
    ImportRead,
    RowError,
)
from backend.installation.service import get_installation
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate
from backend.pipeline import OrderChange

log = logging.getLogger("gendan.ingest")
LEASE = timedelta(minutes=5)
BATCH_SIZE = 1000  # rows per worker batch row by row (a transaction per row) and for history replay
BULK_BATCH_SIZE = 5000  # rows per set-based batch (one transaction); a batch it declines goes row by row, BATCH_SIZE rows
BULK = True  # batches go set-based (backend/ingest/bulk.py); False: row by row (the reference path)
MAX_FILE_BYTES = 20_000_000  # the default of settings.max_upload_bytes (GENDAN_MAX_UPLOAD_BYTES)
OUTCOMES = ("created", "updated", "unchanged", "failed")
# designed field types a column can fill (layout, computed, files, tables and references cannot)
IMPORTABLE_TYPES = ("text", "long_text", "number", "money", "percent", "date", "datetime", "single_select",
                    "multi_select", "checkbox", "phone", "email", "line_items")
# fields a re-imported row may change, when it carries them
UPDATABLE = ("customer_id", "amount", "currency", "stage", "planned_delivery", "payment_due", "data", "tags")
_pending_status: contextvars.ContextVar[str | None] = contextvars.ContextVar("gendan_import_status", default=None)


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")


def _get_job(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise GendanError("import.not_found", {"id": job_id})
    return job


# ---------------------------------------------------------------- upload, preview, start

def upload_import(session: Session, *, actor: Actor, filename: str, content: bytes, now: datetime,
                  max_bytes: int = MAX_FILE_BYTES) -> ImportPreview:
    """Store an uploaded CSV as a job waiting for its mapping; refuse files that cannot be read.
    `max_bytes` is the installation's upload cap (settings.max_upload_bytes)."""
    _require_admin(actor)
    if len(content) > max_bytes:
        raise GendanError("import.file_too_large", {"limit": max_bytes})
    if not filename.lower().endswith((".csv", ".txt", ".xlsx")):
        raise GendanError("import.file_type", {"filename": filename})
    headers, rows, encoding, delimiter = read_table(content)
    if not rows:
        raise GendanError("import.no_rows")
    job = ImportJob(filename=filename[-200:], content=content, encoding=encoding, delimiter=delimiter,
                    headers=headers, total_rows=len(rows), created_by=actor.user_id, created_at=now)
    session.add(job)
    session.commit()
    return ImportPreview(job=ImportRead.model_validate(job), sample=rows[:5], suggested=suggest_mapping(headers))


def preview_import(session: Session, *, actor: Actor, job_id: int) -> ImportPreview:
    _require_admin(actor)
    job = _get_job(session, job_id)
    headers, rows, _, _ = read_table(job.content, encoding=job.encoding, delimiter=job.delimiter)
    return ImportPreview(job=ImportRead.model_validate(job), sample=rows[:5], suggested=suggest_mapping(headers))


def get_import(session: Session, *, actor: Actor, job_id: int) -> ImportRead:
    _require_admin(actor)
    return ImportRead.model_validate(_get_job(session, job_id))


def list_imports(session: Session, *, actor: Actor, limit: int = 50) -> list[ImportRead]:
    _require_admin(actor)
    jobs = session.exec(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)).scalars().all()
    return [ImportRead.model_validate(j) for j in jobs]


def designed_fields(session: Session) -> list[Any]:
    """The fields of the published order form a column can fill, in the form's order."""
    defn = forms_service.get_published(session)
    if defn is None:
        return []
    return [f for f in defn.fields if str(f.type) in IMPORTABLE_TYPES]


def data_fields(session: Session) -> dict[str, DataField]:
    """Designed fields by key as the row parser needs them (type, options with every label; a
    line-items table's columns the same way)."""
    return {f.key: _data_field(f) for f in designed_fields(session)}


def _data_field(f: Any) -> DataField:
    return DataField(type=str(f.type), options=tuple(
        (o.value, tuple(v for v in o.label.values() if v)) for o in (f.options or ())),
        columns=tuple((c.key, _data_field(c)) for c in (f.columns or ()) if str(c.type) in IMPORTABLE_TYPES))


def check_mapping(mapping: ImportMapping, headers: list[str]) -> None:
    """Every problem of a mapping at once, as field errors keyed by target."""
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for target, column in mapping.columns.items():
        if target not in CORE_TARGETS and not re.fullmatch(DATA_KEY, target):
            fields[target] = ("import.target_unknown", {"target": target})
        elif column not in headers:
            fields[target] = ("import.column_unknown", {"column": column})
    for target in mapping.defaults:
        if target not in CORE_TARGETS:
            fields[f"defaults.{target}"] = ("import.target_unknown", {"target": target})
    if "amount" not in mapping.columns and not mapping.defaults.get("amount"):
        fields["amount"] = ("import.amount_unmapped", {})
    if "customer" not in mapping.columns and "customer_code" not in mapping.columns \
            and not mapping.defaults.get("customer"):
        fields["customer"] = ("import.customer_unmapped", {})
    if mapping.history:  # history replay (backend/ingest/history.py)
        from backend.ingest.history import check_history

        fields.update(check_history(mapping, headers))
    try:
        ZoneInfo(mapping.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fields["timezone"] = ("import.timezone_unknown", {"timezone": mapping.timezone})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, fields=fields)


def start_import(session: Session, *, actor: Actor, job_id: int, mapping: ImportMapping, now: datetime) -> ImportRead:
    """Confirm the mapping and queue the job for the worker (once)."""
    _require_admin(actor)
    job = _get_job(session, job_id)
    if job.state != "uploaded":
        raise GendanError("import.already_started", {"id": job.id, "state": job.state})
    if not mapping.timezone.strip():
        mapping = mapping.model_copy(update={"timezone": get_installation(session).timezone})
    check_mapping(mapping, job.headers)
    job.mapping = mapping.model_dump(mode="json")
    job.state = "queued"
    job.started_at = now
    session.add(job)
    session.commit()
    return ImportRead.model_validate(job)


def imported_orders(session: Session, *, actor: Actor, job_id: int, limit: int = 20) -> list[Order]:
    """The orders the first rows of a job created or updated, in line order."""
    _require_admin(actor)
    job = _get_job(session, job_id)
    if not job.mapping:
        return []
    results = session.exec(select(ImportRowResult).where(
        ImportRowResult.import_job_id == job_id, ImportRowResult.outcome.in_(("created", "updated")))
        .order_by(ImportRowResult.line).limit(limit)).scalars().all()
    ids = _order_ids(session, ImportMapping.model_validate(job.mapping).source, results)
    orders = {o.id: o for o in session.exec(select(Order).where(Order.id.in_(set(ids.values())))).scalars()}
    return [orders[ids[r.id]] for r in results if ids.get(r.id) in orders]


def _order_ids(session: Session, source: str, results: list[ImportRowResult]) -> dict[int, int]:
    """Result id -> order id. A created row's order is found by its (source, external id): the row
    is written in the same transaction as the order, before the order has its id."""
    out = {r.id: r.order_id for r in results if r.order_id is not None}
    missing = {r.external_id: r.id for r in results if r.order_id is None and r.external_id}
    for chunk in _chunks(list(missing), 500):
        for order_id, external_id in session.exec(select(Order.id, Order.external_id).where(
                Order.source == source, Order.external_id.in_(chunk))).all():
            out[missing[external_id]] = order_id
    return out


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def count_row_errors(session: Session, *, actor: Actor, job_id: int) -> int:
    _require_admin(actor)
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(ImportRowError)
                        .where(ImportRowError.import_job_id == job_id)).scalar_one()


def pgettext(context: str, message: str) -> str:
    return i18n.translations(i18n.get_locale()).upgettext(context, message)


def outcome_label(outcome: str) -> str:
    """A row's outcome in the current language (the words of the webhook delivery log)."""
    return {"created": pgettext("delivery", "Created"), "updated": pgettext("delivery", "Updated"),
            "unchanged": pgettext("delivery", "Unchanged"), "failed": pgettext("delivery", "Failed")}[outcome]



def row_results_csv(session: Session, *, actor: Actor, job_id: int) -> str:
    """Every processed line of a job: what became of it, its order and what changed or went wrong."""
    _require_admin(actor)
    job = _get_job(session, job_id)
    source = ImportMapping.model_validate(job.mapping).source if job.mapping else ""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=job.delimiter)
    writer.writerow(neutralize_row([i18n.gettext("Line"), i18n.gettext("Outcome"), i18n.gettext("Order no."),
                                    i18n.gettext("Order no. in the source system"), i18n.gettext("Changed fields"),
                                    i18n.gettext("Problems")]))
    problems = {r.line: "; ".join(f"{e.get('column') or e.get('field')}: {describe(e)}" for e in r.errors)
                for r in list_row_errors(session, actor=actor, job_id=job_id, limit=1_000_000)}
    last = 0
    while True:
        results = session.exec(select(ImportRowResult).where(
            ImportRowResult.import_job_id == job_id, ImportRowResult.id > last)
            .order_by(ImportRowResult.id).limit(1000)).scalars().all()
        if not results:
            break
        last = results[-1].id
        ids = _order_ids(session, source, results)
        numbers = dict(session.exec(select(Order.id, Order.number).where(Order.id.in_(set(ids.values())))).all())
        for r in results:
            order_id = ids.get(r.id)
            writer.writerow(neutralize_row([
                r.line, outcome_label(r.outcome), numbers.get(order_id, ""),
                r.external_id or "", ", ".join(r.changed or []), problems.get(r.line, "")]))
    return "\ufeff" + out.getvalue()


# ---------------------------------------------------------------- row errors

def list_row_errors(session: Session, *, actor: Actor, job_id: int, limit: int = 1000) -> list[ImportRowError]:
    _require_admin(actor)
    _get_job(session, job_id)
    return list(session.exec(
        select(ImportRowError).where(ImportRowError.import_job_id == job_id)
        .order_by(ImportRowError.line).limit(limit)
    ).scalars().all())


def describe(error: dict[str, Any] | RowError) -> str:
    """A row error as a sentence in the current language."""
    e = error if isinstance(error, RowError) else RowError.model_validate(error)
    return i18n.translate_error(e.code, {"column": e.column or e.field, "field": e.field, **e.params})


def row_errors_csv(session: Session, *, actor: Actor, job_id: int) -> str:
    """The failed rows with the file's own columns plus one column saying what is wrong, so the
    user fixes them in Excel and uploads the file again (the extra column is simply not mapped)."""
    job = _get_job(session, job_id)
    rows = list_row_errors(session, actor=actor, job_id=job_id, limit=1_000_000)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=job.delimiter)
    writer.writerow(neutralize_row([*job.headers, i18n.gettext("Problems"), i18n.gettext("Line")]))
    for row in rows:
        cells = (row.cells + [""] * len(job.headers))[: len(job.headers)]
        writer.writerow(neutralize_row([
            *cells, "; ".join(f"{e.get('column') or e.get('field')}: {describe(e)}" for e in row.errors), row.line]))
    return "\ufeff" + out.getvalue()  # the BOM makes Excel read UTF-8


# ---------------------------------------------------------------- the worker

def claim_job(bind: Engine | Connection, now: datetime) -> int | None:
    """Take one queued (or abandoned) job under a lease; None when there is nothing to do."""
    with new_session(bind) as session:
        free = or_(ImportJob.locked_until.is_(None), ImportJob.locked_until < now)
        job = session.exec(
            select(ImportJob).options(defer(ImportJob.content))  # the file: megabytes, not needed here
            .where(ImportJob.state.in_(("queued", "running")), free)
            .order_by(ImportJob.id).limit(1).with_for_update(skip_locked=True)
        ).scalars().first()
        if job is None:
            return None
        job.state, job.locked_until = "running", now + LEASE
        job_id = job.id
        session.commit()
    return job_id


def process_imports(bind: Engine | Connection, now: datetime, *, batch_size: int | None = None,
                    max_batches: int = 5) -> int:
    """The worker job: a few batches of rows of the oldest open import. Returns rows processed."""
    done = 0
    for _ in range(max_batches):
        job_id = claim_job(bind, now)
        if job_id is None:
            break
        with new_session(bind) as session:
            if not _still_held(session, job_id, now + LEASE):
                break  # stalled past the lease and taken over: the batch is the new holder's
            done += process_batch(session, job_id, now=now, batch_size=batch_size)
    return done


def _still_held(session: Session, job_id: int, token: datetime) -> bool:
    """Several workers (PostgreSQL): lock the claimed job's row for the batch's transaction and check
    it still carries this claim's lease (`locked_until` is the token). A worker that stalled past
    the lease between claim and batch finds another's token and writes nothing; while it holds the
    row no one else can claim it, and the server ends the transaction of a worker frozen inside it
    after the lease. SQLite has one worker (and a read-then-write transaction could fail there)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {int(LEASE.total_seconds() * 1000)}"))
    held = session.execute(select(ImportJob.locked_until).where(ImportJob.id == job_id).with_for_update()).scalar()
    return held is not None and as_utc(held) == token


def run_to_end(bind: Engine | Connection, job_id: int, now: datetime, *, batch_size: int | None = None,
               bulk: bool | None = None) -> None:
    """Drain one job inline (tests and the CLI), batch by batch, as the worker would."""
    while True:
        with new_session(bind) as session:
            if session.get(ImportJob, job_id, options=[defer(ImportJob.content)]).state in ("done", "failed"):
                return
        if claim_job(bind, now) != job_id:
            raise RuntimeError(f"import {job_id} is held by another worker")
        with new_session(bind) as session:
            process_batch(session, job_id, now=now, batch_size=batch_size, bulk=bulk)


@via.for_import_job
def process_batch(session: Session, job_id: int, *, now: datetime, batch_size: int | None = None,
                  elapsed: Callable[[], float] = time.monotonic, bulk: bool | None = None) -> int:
    """Import rows next_row .. next_row + batch_size of a claimed job: set-based in one transaction
    (`bulk`, default BULK), else (or when the bulk path declines the batch) each row on its own.

    `now` is when the worker's tick began; the job's `finished_at` is that plus the time the batch
    took (`elapsed` is a monotonic clock), so a job's duration includes its last batch's work."""
    began = elapsed()
    job = session.get(ImportJob, job_id, options=[defer(ImportJob.content)])  # read by _table_of when needed
    actor = auth_service.load_actor(session, job.created_by, via="import")
    if actor is None or not actor.is_admin:
        job.state, job.finished_at, job.locked_until = "failed", now, None
        job.errors = [{"code": "import.owner_inactive", "params": {"id": job.created_by}}]
        session.commit()
        return 0
    mapping = ImportMapping.model_validate(job.mapping)
    tz = ZoneInfo(mapping.timezone) if mapping.timezone else get_installation(session).zone
    fields = data_fields(session)
    headers, rows = _table_of(session, job)
    start = job.next_row
    set_based = BULK if bulk is None else bulk
    # without a size given: BULK_BATCH_SIZE rows set-based (fewer, larger transactions: the
    # per-batch reads and commit cost ~80 ms), BATCH_SIZE row by row (a declined batch does only
    # that many rows by rows, so a worker's tick stays well inside its lease)
    stop = min(start + (batch_size or (BULK_BATCH_SIZE if set_based and not mapping.history else BATCH_SIZE)),
               len(rows))
    from backend.ingest import bulk as bulk_path

    if mapping.history:  # history replay: its own set-based writer (backend/ingest/history.py)
        from backend.ingest import history

        history.import_batch(session, job_id, actor, mapping, tz, fields, headers, rows, start, stop, now)
    elif not set_based or not bulk_path.import_batch(
            session, job_id, actor, mapping, tz, fields, headers, rows, start, stop, now):
        if batch_size is None:
            stop = min(stop, start + BATCH_SIZE)
        for index in range(start, stop):
            cells = rows[index]
            line = index + 2  # the header is line 1 (blank lines are not counted)
            _import_row(session, job_id, actor, mapping, tz, fields, line, headers, cells, now)
    job = session.get(ImportJob, job_id)
    if job.next_row >= len(rows):
        job.state = "done"
        job.finished_at = now + timedelta(seconds=max(0.0, elapsed() - began))
    job.locked_until = None
    session.commit()
    return job.next_row - start


_TABLE: dict[tuple, tuple[list[str], list[list[str]]]] = {}


def _table_of(session: Session, job: ImportJob) -> tuple[list[str], list[list[str]]]:
    """The job's rows, read once per worker process for all its batches (a file is never changed
    after upload; reading 100,000 rows again for each batch of 200 cost more than the rows).

    Known by a digest of the file: on PostgreSQL the server's sha256 of the column, so a batch that
    finds the file read does not fetch it (5.8 MB for 100,000 orders, hex-encoded by the server
    and decoded here for each batch: a second of both processes' CPU per 100,000 rows); elsewhere
    (SQLite, in-process) a digest of the bytes."""
    if session.get_bind().dialect.name == "postgresql":
        digest = session.execute(select(func.sha256(ImportJob.content)).where(ImportJob.id == job.id)).scalar_one()
        key = ("sha256", digest, job.encoding, job.delimiter)
    else:
        key = ("blake2b", hashlib.blake2b(job.content, digest_size=16).digest(), job.encoding, job.delimiter)
    found = _TABLE.get(key)
    if found is None:
        headers, rows, _, _ = read_table(job.content, encoding=job.encoding, delimiter=job.delimiter)
        _TABLE.clear()  # one file at a time
        found = _TABLE[key] = (headers, rows)
    return found


def _import_row(session: Session, job_id: int, actor: Actor, mapping: ImportMapping, tz: ZoneInfo,
                fields: dict[str, DataField], line: int, headers: list[str], cells: list[str], now: datetime) -> None:
    parsed = parse_row(line, dict(zip(headers, cells, strict=False)), mapping, tz, fields)
    errors = list(parsed.errors)
    # Write first: on SQLite a deferred transaction that reads and then writes fails at once
    # ("database is locked") when another writer committed meanwhile, and create_order's retry
    # would roll back this row's customer and progress. Taking the write lock first queues on
    # busy_timeout instead; on PostgreSQL it only locks the job row this worker holds anyway.
    session.execute(update(ImportJob).where(ImportJob.id == job_id).values(next_row=ImportJob.next_row))
    if not errors:
        try:
            errors = _write(session, job_id, actor, mapping, parsed, now)
        except GendanError as exc:
            session.rollback()
            errors = _errors_from(exc, parsed, mapping)
        except SQLAlchemyError as exc:  # one broken row must not stop the file; the bug still shows in the log
            log.exception("import %s line %s: unexpected database error", job_id, line)
            session.rollback()
            errors = [RowError(line=line, column=None, field="_", code="import.row_internal",
                               params={"error": type(exc).__name__})]
    if not errors:
        return
    job = session.get(ImportJob, job_id)
    job.next_row += 1
    job.failed_count += 1
    # PostgreSQL's JSONB cannot hold NUL characters: keep the row, mark where they were
    session.add(ImportRowError(import_job_id=job_id, line=line, cells=_no_nul(list(cells)),
                               errors=[_no_nul(e.model_dump(mode="json")) for e in errors]))
    external_id = _no_nul(str(parsed.values.get("external_id") or ""))[:120] or None
    session.add(ImportRowResult(import_job_id=job_id, line=line, outcome="failed", external_id=external_id))
    session.commit()


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {k: _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _write(session: Session, job_id: int, actor: Actor, mapping: ImportMapping, parsed: ParsedRow,
           now: datetime) -> list[RowError]:
    """Create or update one order (and its customer when asked); [] on success, else what is
    wrong (nothing written). The job's progress and the row's result commit with the order."""
    customer_id, problem = _customer_for(session, actor, mapping, parsed, now)
    if problem:
        session.rollback()
        return [problem]
    values = {**parsed.values, "customer_id": customer_id, "source": mapping.source}
    values.setdefault("external_id", f"import-{job_id}-{parsed.line}")
    try:
        payload = OrderCreate.model_validate(values)
    except ValidationError as exc:
        session.rollback()
        return _pydantic_errors(exc, parsed, mapping)
    existing = _existing_order(session, payload)
    job = session.get(ImportJob, job_id)
    job.next_row += 1
    if existing is None:
        job.created_count += 1
        session.add(ImportRowResult(import_job_id=job_id, line=parsed.line, outcome="created",
                                    external_id=payload.external_id))
        token = _pending_status.set(parsed.status)
        try:
            # the order is created "at" its own date when the file has one, so its history starts there
            orders_service.create_order(session, actor=actor, payload=payload, now=parsed.created_at or now,
                                        via="import")
        finally:
            _pending_status.reset(token)
        return []
    sent = set(parsed.values) | {"customer_id"}
    changes = changes_for(existing, payload, sent, parsed.status)
    if changes.get("stage") is not None and _flow_running(session, existing.id):
        changes.pop("stage")  # the running flow moves this order's stage; the file's is history
    job.existing_count += 1
    result = ImportRowResult(import_job_id=job_id, line=parsed.line, order_id=existing.id,
                             external_id=existing.external_id, outcome="updated" if changes else "unchanged",
                             changed=sorted(_changed_names(existing, changes)))
    session.add(result)
    if not changes:
        job.unchanged_count += 1
        session.commit()  # nothing of the order changes; this stores the job's progress
        return []
    job.updated_count += 1
    try:
        update_payload = OrderUpdate.model_validate({"version": existing.version, **changes})
    except ValidationError as exc:
        session.rollback()
        return _pydantic_errors(exc, parsed, mapping)
    orders_service.update_order(session, actor=actor, order_id=existing.id, payload=update_payload, now=now,
                                via="import")
    return []


def _existing_order(session: Session, payload: OrderCreate) -> Order | None:
    """The order a row names: by (source, external id), else by its order number."""
    found = session.exec(select(Order).where(Order.source == payload.source,
                                             Order.external_id == payload.external_id)).scalars().first()
    if found is None and payload.number:
        found = session.exec(select(Order).where(Order.number == payload.number)).scalars().first()
    return found


def _flow_running(session: Session, order_id: int) -> bool:
    return session.exec(select(FlowInstance.id).where(FlowInstance.order_id == order_id,
                                                      FlowInstance.status == "running")).first() is not None


def _changed_names(order: Order, changes: dict[str, Any]) -> list[str]:
    """Column names, and `data.<key>` for each designed field, of what an update changes."""
    names = [k for k in changes if k != "data"]
    for key, value in (changes.get("data") or {}).items():
        if not orders_service.sent_values_match((order.data or {}).get(key), value):
            names.append(f"data.{key}")
    return names


def changes_for(order: Order, payload: OrderCreate, sent: set[str] | dict[str, Any],
                status: str | None) -> dict[str, Any]:
    """The fields a re-sent order carries with a value other than the order's (fields it does not
    carry stay as they are; designed fields are compared one by one). Imports and webhooks."""
    out: dict[str, Any] = {}
    for name in UPDATABLE:
        if name not in sent:
            continue
        value = getattr(payload, name)
        current = getattr(order, name)
        if name == "currency" and value is None:  # not carried: the order keeps its currency
            continue
        if name == "amount":
            differs = Decimal(str(current)) != value
        elif name == "data":
            # one by one: an empty cell (None) matches a field the order never had
            value = {k: v for k, v in (value or {}).items()
                     if not orders_service.sent_values_match((current or {}).get(k), v)}
            differs = bool(value)
        else:
            differs = current != value
        if differs:
            out[name] = value
    if status is not None and status != order.status:
        out["status"] = status
    return out


def _customer_for(session: Session, actor: Actor, mapping: ImportMapping, parsed: ParsedRow,
                  now: datetime) -> tuple[int | None, RowError | None]:
    column = mapping.columns.get("customer_code") or mapping.columns.get("customer")
    customer_id, code = resolve_customer(session, code=parsed.customer_code, name=parsed.customer_name,
                                         create=mapping.create_customers, now=now, actor=actor)
    if code is None:
        return customer_id, None
    return None, RowError(line=parsed.line, column=column, field="customer", code=code,
                          params={"value": parsed.customer_code or parsed.customer_name})


def resolve_customer(session: Session, *, code: str | None, name: str | None, create: bool,
                     now: datetime, actor: Actor | None = None) -> tuple[int | None, str | None]:
    """(customer id, None), or (None, error code). A customer is matched by code first, then by
    its exact name (among customers without a code when the row has one, so a name never
    matches another code's customer); with `create`, an unknown one is created (flushed only),
    with its audit "create" row by `actor` (the import's owner, API caller, connector's owner or
    webhook's user), as a customer made on its page has."""
    if code:
        found = session.exec(select(Customer.id).where(Customer.code == code)).scalars().all()
        if found:
            return found[0], None
    if name:
        by_name = select(Customer.id).where(Customer.name == name)
        if code:
            by_name = by_name.where(Customer.code.is_(None))
        found = session.exec(by_name.order_by(Customer.id).limit(2)).scalars().all()
        if len(found) == 1:
            return found[0], None
        if len(found) > 1:
            return None, "import.customer_ambiguous"
    if not create:
        return None, "import.customer_unknown"
    if code is not None and (len(code) > 40 or not all(c.isalnum() or c in "_-./" for c in code)):
        return None, "import.customer_code_invalid"
    customer = Customer(name=(name or code)[:200], code=code, preferred_channel="none", owner_id=None,
                        created_at=now)
    session.add(customer)
    session.flush()
    audit.record(session, actor, "customer", customer.id, "create", {},
                 via.stamped(audit.snapshot(customer, CUSTOMER_AUDITED)), now)
    return customer.id, None


def _pydantic_errors(exc: ValidationError, parsed: ParsedRow, mapping: ImportMapping) -> list[RowError]:
    out = []
    for err in exc.errors():
        target = str(err.get("loc", ("_",))[0])
        ctx = error_params(err)
        out.append(RowError(line=parsed.line, column=mapping.columns.get(target), field=target,
                            code=f"field.{err.get('type', 'value_error')}", params=ctx))
    return out


def _errors_from(exc: GendanError, parsed: ParsedRow, mapping: ImportMapping) -> list[RowError]:
    if not exc.fields:
        return [RowError(line=parsed.line, column=None, field="_", code=exc.code, params=exc.params)]
    return [RowError(line=parsed.line, column=mapping.columns.get(path), field=path, code=code,
                     params={k: v for k, v in params.items() if k != "field"})
            for path, (code, params) in exc.fields.items()]


# ---------------------------------------------------------------- status from the file

def apply_pending_status(session: Session, change: OrderChange) -> None:
    """Check stage of the order pipeline: a row whose status maps to cancelled/completed is
    created closed, in the same transaction (other writers leave no pending status)."""
    status = _pending_status.get()
    if change.is_new and status and status != "open":
        change.order.status = status
        change.order.closed_at = change.now
