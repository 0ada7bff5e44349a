"""Import and inbound webhook API: thin routes over backend.ingest.service and .inbound."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.ingest import (
    inbound,
    messages_in,
    records,
    service,
    tasks,  # noqa: F401  (registers the worker job)
)
from backend.ingest.schemas import (
    DeliveryRead,
    ImportMapping,
    ImportPreview,
    ImportRead,
    InboundFormat,
    InboundPreview,
    InboundRecordResult,
    InboundResult,
    InboundSourceCreate,
    InboundSourceCreated,
    InboundSourceRead,
    InboundSourceUpdate,
    MappedInboundResult,
)

router = APIRouter(prefix="/api/v1", tags=["ingest"])
ERRORS = {400: {"description": "Error (see code)"}, 403: {"description": "Admins only"},
          404: {"description": "Not found"}, 409: {"description": "Conflict"}, 422: {"description": "Invalid"}}


@router.post("/imports", status_code=201, response_model=ImportPreview, responses=ERRORS)
async def upload_import(request: Request, session: DbSession, actor: CurrentActor,
                        file: Annotated[UploadFile, File()]):
    content = await file.read()
    return await run_in_threadpool(service.upload_import, session, actor=actor,
                                   filename=file.filename or "upload.csv", content=content, now=utcnow(),
                                   max_bytes=request.app.state.settings.max_upload_bytes)


_RECORD_SCHEMA = {"type": "object", "properties": {
    "external_id": {"type": "string"}, "source": {"type": "string"}, "customer_id": {"type": "integer"},
    "customer_code": {"type": "string"}, "customer_name": {"type": "string"}, "amount": {"type": "string"},
    "currency": {"type": "string"}, "stage": {"type": "string"}, "status": {"type": "string"},
    "number": {"type": "string"}, "planned_delivery": {"type": "string"}, "payment_due": {"type": "string"},
    "created": {"type": "string"}, "data": {"type": "object"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["external_id", "amount"]}
_BULK_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "maxItems": records.MAX_RECORDS, "items": _RECORD_SCHEMA}},
    "application/x-ndjson": {"schema": {"type": "string"}}}}}


@router.post("/orders/bulk", response_model=records.BulkResult, tags=["orders"], openapi_extra=_BULK_BODY,
             responses={**ERRORS, 413: {"description": "Too many records or too large a body"}})
async def bulk_orders(request: Request, session: DbSession, actor: CurrentActor,
                      create_customers: Annotated[bool, Query()] = False):
    """Create or update up to 10,000 orders by (source, external_id) in one request.

    The body is a JSON array of orders (`application/json`) or one order per line
    (`application/x-ndjson`, each line at most 256 KiB); the body may be as large as an upload
    (GENDAN_MAX_UPLOAD_BYTES). A record has `external_id` (required), `source` (default `api`),
    the customer by `customer_id`, `customer_code` or `customer_name` (unknown ones are created
    with `?create_customers=true`), `amount`, `currency`, `stage`, `status`, `number`,
    `planned_delivery`, `payment_due`, `created`, `data` (designed fields) and `tags`. Records
    are written in chunks of 1,000 on the import's set-based path. The answer counts the
    outcomes (created, updated, unchanged, failed) and lists each record by its index with its
    order (id, number) or its errors in the caller's language; a bad record never stops the
    others. Sending the same records again answers "unchanged" for each."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        values = records.parse_json_body(await request.body())
    elif kind in ("application/x-ndjson", "application/jsonl", "application/json-seq"):
        values = await _ndjson(request)
    else:
        raise GendanError("bulk.content_type")
    return await run_in_threadpool(records.apply, session, actor=actor, values=values,
                                   create_customers=create_customers, now=utcnow())


async def _ndjson(request: Request) -> list:
    """The stream's lines as values (a bad line stands for a failed record); blank lines are skipped."""
    values: list = []
    count = 0
    pending = b""
    too_long = False

    def take(line: bytes) -> None:
        nonlocal count
        if line.strip():
            count += 1
            if count <= records.MAX_RECORDS:
                values.append(records.parse_ndjson_line(line))

    async for chunk in request.stream():
        pending += chunk
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[:cut], pending[cut + 1:]
            if too_long:  # the end of a line already refused
                too_long = False
                continue
            take(line)
        if len(pending) > records.MAX_LINE_BYTES and not too_long:
            take(b"x" * (records.MAX_LINE_BYTES + 1))  # stands for the long line, read no further
            pending, too_long = b"", True
        elif too_long:
            pending = b""
    if not too_long:
        take(pending)
    if count > records.MAX_RECORDS:
        raise GendanError("bulk.too_many", {"max": records.MAX_RECORDS, "count": count})
    return values


@router.get("/imports", response_model=list[ImportRead], responses=ERRORS)
def list_imports(session: DbSession, actor: CurrentActor):
    return service.list_imports(session, actor=actor)


@router.get("/imports/{job_id}", response_model=ImportRead, responses=ERRORS)
def get_import(session: DbSession, actor: CurrentActor, job_id: int):
    return service.get_import(session, actor=actor, job_id=job_id)


@router.post("/imports/{job_id}/start", response_model=ImportRead, responses=ERRORS)
def start_import(session: DbSession, actor: CurrentActor, job_id: int, mapping: ImportMapping):
    return service.start_import(session, actor=actor, job_id=job_id, mapping=mapping, now=utcnow())


@router.get("/imports/{job_id}/errors", responses=ERRORS)
def row_errors(session: DbSession, actor: CurrentActor, job_id: int):
    rows = service.list_row_errors(session, actor=actor, job_id=job_id)
    return [{"line": r.line, "cells": r.cells,
             "errors": [{**e, "message": service.describe(e)} for e in r.errors]} for r in rows]


@router.get("/imports/{job_id}/errors.csv", responses=ERRORS)
def row_errors_csv(session: DbSession, actor: CurrentActor, job_id: int):
    text = service.row_errors_csv(session, actor=actor, job_id=job_id)
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"'})


@router.get("/imports/{job_id}/results.csv", responses=ERRORS)
def row_results_csv(session: DbSession, actor: CurrentActor, job_id: int):
    """Every line of the file: created / updated / unchanged / failed, its order, what changed."""
    text = service.row_results_csv(session, actor=actor, job_id=job_id)
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job_id}-rows.csv"'})


@router.post("/inbound/{source}", response_model=InboundResult | MappedInboundResult, responses={
    **ERRORS, 401: {"description": "Signature missing, invalid or stale"},
    429: {"description": "Too many posts to unknown sources"}})
async def receive(request: Request, session: DbSession, source: str):
    body = await request.body()
    # database work off the event loop (a SQLite lock wait must not stall every request)
    result = await run_in_threadpool(inbound.receive, session, source_key=source, body=body,
                                     signature=request.headers.get(inbound.SIGNATURE_HEADER),
                                     timestamp=request.headers.get(inbound.TIMESTAMP_HEADER), now=utcnow(),
                                     delivery_id=request.headers.get(inbound.DELIVERY_HEADER),
                                     client=request.client.host if request.client else None,
                                     headers=request.headers, query=request.query_params)
    if isinstance(result, MappedInboundResult):  # a mapped source: one result per record
        created = any(r.outcome == "created" for r in result.records)
        return JSONResponse(result.model_dump(mode="json"), status_code=201 if created else 200)
    return JSONResponse(result.model_dump(mode="json"), status_code=201 if result.outcome == "created" else 200)


@router.post("/inbound/{source}/messages", response_model=messages_in.MessageResult, responses={
    **ERRORS, 401: {"description": "Signature missing, invalid or stale"},
    429: {"description": "Too many posts to unknown sources"}})
async def receive_message(request: Request, session: DbSession, source: str):
    """A customer's message about an order (from an e-mail gateway, a chat robot), signed like orders."""
    body = await request.body()
    return await run_in_threadpool(messages_in.receive_message, session, source_key=source, body=body,
                                   signature=request.headers.get(inbound.SIGNATURE_HEADER),
                                   timestamp=request.headers.get(inbound.TIMESTAMP_HEADER), now=utcnow(),
                                   delivery_id=request.headers.get(inbound.DELIVERY_HEADER),
                                   client=request.client.host if request.client else None)


@router.get("/inbound-sources", response_model=list[InboundSourceRead], responses=ERRORS)
def list_sources(session: DbSession, actor: CurrentActor):
    return inbound.list_sources(session, actor=actor)


@router.post("/inbound-sources", status_code=201, response_model=InboundSourceCreated, responses=ERRORS)
def create_source(session: DbSession, actor: CurrentActor, payload: InboundSourceCreate):
    return inbound.create_source(session, actor=actor, payload=payload, now=utcnow())


@router.patch("/inbound-sources/{source_id}", response_model=InboundSourceRead, responses=ERRORS)
def update_source(session: DbSession, actor: CurrentActor, source_id: int, payload: InboundSourceUpdate):
    return inbound.set_creates_customers(session, actor=actor, source_id=source_id, value=payload.creates_customers)


@router.put("/inbound-sources/{source_id}/format", response_model=InboundSourceRead, responses=ERRORS)
def set_source_format(session: DbSession, actor: CurrentActor, source_id: int, payload: InboundFormat):
    """The sender's own body shape (records path + mapping) and signature scheme."""
    return inbound.set_format(session, actor=actor, source_id=source_id, payload=payload)


@router.post("/inbound-sources/{source_id}/preview", response_model=list[InboundRecordResult], responses=ERRORS)
def preview_source(session: DbSession, actor: CurrentActor, source_id: int, payload: InboundPreview):
    """The orders a sample body would make, with each record's errors (nothing is stored)."""
    return inbound.preview(session, actor=actor, source_id=source_id, body=payload.body, settings=payload.settings)


@router.post("/inbound-sources/{source_id}/rotate", response_model=InboundSourceCreated, responses=ERRORS)
def rotate_secret(session: DbSession, actor: CurrentActor, source_id: int):
    return inbound.rotate_secret(session, actor=actor, source_id=source_id)


@router.get("/inbound-deliveries", response_model=list[DeliveryRead], responses=ERRORS)
def list_deliveries(session: DbSession, actor: CurrentActor, source: str | None = None):
    if source is not None and len(source) > 60:
        raise GendanError("not_found")
    return inbound.list_deliveries(session, actor=actor, source_key=source)
