"""Form designer JSON API (/api/v1/forms) and attachment upload / download: thin; the service decides."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.forms import files, service
from backend.forms.schemas import (
    DraftSave,
    FormDiff,
    FormEvaluate,
    FormEvaluation,
    FormVersionRead,
    FormVersionSummary,
    IssueRead,
)
from engine import forms as forms_engine

router = APIRouter(prefix="/api/v1/forms", tags=["forms"])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not a designer"},
          404: {"description": "No such form version"}, 422: {"description": "Invalid definition or data"}}


@router.post("/validate", response_model=list[IssueRead], responses=ERRORS)
def validate_definition(actor: CurrentActor, definition: Annotated[dict[str, Any], Body()]) -> list[IssueRead]:
    """Every issue that would block publishing this definition (nothing is stored)."""
    return service.describe_issues(forms_engine.validate_definition(definition))


@router.post("/import", response_model=FormVersionRead, status_code=201, responses=ERRORS)
async def import_form(session: DbSession, actor: CurrentActor, request: Request) -> FormVersionRead:
    """A JSON body, or a multipart upload with the exported file in `file`."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise GendanError("form.json_invalid", {"detail": "no file"})
        document: Any = await upload.read()
    else:
        document = await request.body()
    # in the threadpool: waiting for SQLite's write lock on the event loop would stall every request
    return await run_in_threadpool(service.import_form, session, actor=actor, document=document, now=utcnow())


@router.post("/files", status_code=201, responses=ERRORS)
async def upload_file(request: Request, actor: CurrentActor, file: UploadFile) -> dict[str, Any]:
    """Store an attachment; the returned reference goes into the form data."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")  # before reading the body
    content = await file.read()
    return files.store(request.app.state.settings.upload_dir, actor=actor, name=file.filename or "file",
                       content_type=file.content_type or "application/octet-stream", content=content, now=utcnow())


@router.get("/files/{file_id}", responses=ERRORS)
def download_file(request: Request, actor: CurrentActor, file_id: str) -> FileResponse:
    path, meta = files.load(request.app.state.settings.upload_dir, file_id)
    media_type, inline = files.served_type(meta)
    return FileResponse(path, media_type=media_type, filename=meta["name"],
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"})


@router.get("/{key}", response_model=FormVersionRead | None, responses=ERRORS)
def working_copy(session: DbSession, actor: CurrentActor, key: str) -> FormVersionRead | None:
    return service.get_working_copy(session, actor=actor, key=key)


@router.get("/{key}/versions", response_model=list[FormVersionSummary], responses=ERRORS)
def list_versions(session: DbSession, actor: CurrentActor, key: str) -> list[FormVersionSummary]:
    return service.list_versions(session, actor=actor, key=key)


@router.get("/{key}/versions/{version}", response_model=FormVersionRead, responses=ERRORS)
def get_version(session: DbSession, actor: CurrentActor, key: str, version: int) -> FormVersionRead:
    return service.get_version(session, actor=actor, key=key, version=version)


@router.get("/{key}/versions/{version}/export", responses=ERRORS)
def export_version(session: DbSession, actor: CurrentActor, key: str, version: int) -> JSONResponse:
    document = service.export_form(session, actor=actor, key=key, version=version)
    return JSONResponse(document, headers={
        "Content-Disposition": f'attachment; filename="form-{key}-v{version}.json"'})


@router.put("/{key}/draft", response_model=FormVersionRead, responses=ERRORS)
def save_draft(session: DbSession, actor: CurrentActor, key: str, payload: DraftSave) -> FormVersionRead:
    return service.save_draft(session, actor=actor, key=key, definition=payload.definition, now=utcnow())


@router.delete("/{key}/draft", status_code=204, responses=ERRORS)
def discard_draft(session: DbSession, actor: CurrentActor, key: str) -> None:
    service.discard_draft(session, actor=actor, key=key)


@router.post("/{key}/publish", response_model=FormVersionRead,
             responses={**ERRORS, 409: {"description": "No draft, or an incompatible change"}})
def publish(session: DbSession, actor: CurrentActor, key: str) -> FormVersionRead:
    return service.publish_form(session, actor=actor, key=key, now=utcnow())


@router.get("/{key}/diff", response_model=FormDiff, responses=ERRORS)
def diff(session: DbSession, actor: CurrentActor, key: str, old: Annotated[int, Query()],
         new: Annotated[int, Query()]) -> FormDiff:
    return service.diff_versions(session, actor=actor, key=key, old=old, new=new)


@router.post("/{key}/evaluate", response_model=FormEvaluation, responses=ERRORS)
def evaluate(session: DbSession, actor: CurrentActor, key: str, payload: FormEvaluate) -> FormEvaluation:
    """The live form's round trip: computed values, visibility and (optionally) errors for `data`."""
    return service.evaluate(session, key=key, version=payload.version, data=payload.data,
                            show_errors=payload.show_errors, stage=payload.stage)
