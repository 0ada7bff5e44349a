"""Contract OCR: upload a contract, the worker reads it, the result is a draft order.

upload → an OcrJob (queued) whose file is a form upload → the worker (`read_contracts`, a job in
backend/pipeline_assembly.py) claims it under a lease, reads it with backend/ocr/reader.py saving
progress as pages finish, extracts the fields with engine/ocr and matches the buyer to a customer.
Only people who may create orders may upload; a job is seen by who uploaded it and by admins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.db import new_session
from backend.errors import GendanError
from backend.forms import files as forms_files
from backend.ocr import reader
from backend.ocr.models import OcrJob
from backend.orders import service as orders_service
from engine.ocr import extract, group_lines, match_customer

LEASE = timedelta(seconds=reader.PAGE_SECONDS * reader.MAX_PAGES + 120)
MAX_ATTEMPTS = 3
MAX_CUSTOMERS = 20_000  # the buyer is matched against at most this many customers (newest first)


def upload(session: Session, *, actor: Actor, upload_dir: Path, filename: str, content: bytes, now: datetime,
           max_bytes: int) -> OcrJob:
    if not orders_service.can_create_orders(actor):
        raise GendanError("auth.forbidden")
    if not content:
        raise GendanError("ocr.empty_file")
    if len(content) > max_bytes:
        raise GendanError("ocr.file_too_large", {"max": max_bytes})
    kind = reader.sniff(content)
    if kind is None:
        raise GendanError("ocr.unsupported_file")
    reader.check_header(content, kind)
    ref = forms_files.store(upload_dir, actor=actor, name=filename, content_type=kind, content=content, now=now)
    job = OcrJob(file_id=ref["id"], filename=ref["name"], content_type=kind, created_by=actor.user_id,
                 created_at=now)
    session.add(job)
    session.commit()
    session.refresh(job)
    return job


def get(session: Session, *, actor: Actor, job_id: int) -> OcrJob:
    job = session.get(OcrJob, job_id)
    if job is None or (job.created_by != actor.user_id and not actor.is_admin):
        raise GendanError("ocr.not_found", {"id": job_id})
    return job


def file_ref(job: OcrJob, upload_dir: Path) -> dict[str, Any]:
    """The stored file as an attachment field's value ([ref]) takes it."""
    _, meta = forms_files.load(upload_dir, job.file_id)
    return {k: meta[k] for k in ("id", "name", "size", "content_type")}


def as_dict(job: OcrJob) -> dict[str, Any]:
    return {"id": job.id, "state": job.state, "progress": job.progress, "filename": job.filename,
            "content_type": job.content_type, "file_id": job.file_id, "result": job.result, "error": job.error,
            "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


def claim(bind: Engine | Connection, now: datetime) -> int | None:
    """Take the oldest queued (or abandoned) job under a lease; None when there is none."""
    with new_session(bind) as session:
        free = or_(OcrJob.locked_until.is_(None), OcrJob.locked_until < now)
        job = session.exec(select(OcrJob).where(OcrJob.state.in_(("queued", "running")), free)
                           .order_by(OcrJob.id).limit(1).with_for_update(skip_locked=True)).scalars().first()
        if job is None:
            return None
        job.attempts += 1
        if job.attempts > MAX_ATTEMPTS:  # it killed the worker before: stop trying
            job.state, job.finished_at, job.locked_until = "failed", now, None
            job.error = {"code": "ocr.gave_up", "params": {}}
            session.commit()
            return None
        job.state, job.locked_until, job.started_at, job.progress = "running", now + LEASE, now, 5
        job_id = job.id
        session.commit()
    return job_id


def _set_progress(bind: Engine | Connection, job_id: int, progress: int) -> None:
    with new_session(bind) as session:
        session.execute(update(OcrJob).where(OcrJob.id == job_id).values(progress=min(99, progress)))
        session.commit()


def _customers(session: Session) -> tuple[list[str], dict[str, int]]:
    rows = session.execute(select(Customer.id, Customer.name, Customer.code)
                           .order_by(Customer.id.desc()).limit(MAX_CUSTOMERS)).all()
    ids: dict[str, int] = {}
    for cid, name, code in rows:
        ids.setdefault(name, cid)
        if code:
            ids.setdefault(code, cid)
    return list(ids), ids


def process(bind: Engine | Connection, job_id: int, *, upload_dir: Path, max_bytes: int, now: datetime) -> None:
    """Read one claimed job to its end (done or failed)."""
    with new_session(bind, writes=False) as session:
        job = session.get(OcrJob, job_id)
        file_id = job.file_id
        names, ids = _customers(session)
    result, error = None, None
    try:
        path, _ = forms_files.load(upload_dir, file_id)
        words = reader.read_file(path.read_bytes(), max_bytes=max_bytes,
                                 progress=lambda pct: _set_progress(bind, job_id, pct))
        draft = extract(group_lines(words), customers=names).as_dict()
        customer = draft["fields"].get("customer")
        if customer is not None:
            matched = match_customer(customer["value"], names) if customer["value"] not in ids else (
                customer["value"], 1.0)
            customer["customer_id"] = ids.get(matched[0]) if matched else None
        draft["word_count"] = len(words)
        result = draft
    except GendanError as exc:
        error = {"code": exc.code, "params": exc.params}
    except OSError:
        error = {"code": "ocr.unreadable_file", "params": {}}
    with new_session(bind) as session:
        job = session.get(OcrJob, job_id)
        job.state = "done" if error is None else "failed"
        job.result, job.error, job.progress = result, error, 100
        job.finished_at, job.locked_until = now, None
        session.commit()


def read_contracts(bind: Engine | Connection, now: datetime, *, upload_dir: Path, max_bytes: int,
                   max_jobs: int = 2) -> int:
    """The worker job: read a few queued contracts. Returns how many were read."""
    done = 0
    for _ in range(max_jobs):
        job_id = claim(bind, now)
        if job_id is None:
            break
        process(bind, job_id, upload_dir=upload_dir, max_bytes=max_bytes, now=now)
        done += 1
    return done
