"""Contract OCR API: upload a contract, then poll the job until its draft order is ready."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.ocr import service

router = APIRouter(prefix="/api/v1/ocr", tags=["ocr"])
ERRORS = {403: {"description": "May not create orders"}, 404: {"description": "Not found"},
          413: {"description": "File too large"},
          422: {"description": "Not an image or PDF, unreadable, too many pixels"}}


@router.post("/contracts", status_code=202, responses=ERRORS)
async def upload_contract(request: Request, session: DbSession, actor: CurrentActor,
                          file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Queue a contract (image or PDF) for reading; poll GET /api/v1/ocr/contracts/{id}."""
    settings = request.app.state.settings
    content = await file.read(settings.max_upload_bytes + 1)
    job = await run_in_threadpool(service.upload, session, actor=actor, upload_dir=settings.upload_dir,
                                  filename=file.filename or "contract", content=content, now=utcnow(),
                                  max_bytes=settings.max_upload_bytes)
    return service.as_dict(job)


@router.get("/contracts/{job_id}", responses=ERRORS)
def get_contract(session: DbSession, actor: CurrentActor, job_id: int) -> dict[str, Any]:
    """State (queued / running / done / failed), progress 0-100, and when done the draft: fields
    with value and confidence 0-1, and line items."""
    return service.as_dict(service.get(session, actor=actor, job_id=job_id))
