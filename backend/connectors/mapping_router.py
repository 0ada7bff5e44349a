"""Mapping editor API (admins): preview with an unsaved mapping, save as a new version, list and
restore versions, export as a JSON file and import one."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.connectors import mapping
from backend.connectors import service as connector_service
from backend.connectors.mapping import MappingPreviewRequest, MappingSaveRequest, MappingVersionRead
from backend.connectors.runner import settings_for
from backend.connectors.schemas import ConnectorSecrets, SampleRead
from backend.errors import GendanError

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])
ERRORS = {403: {"description": "Admins only"}, 404: {"description": "Not found"},
          413: {"description": "File too large"}, 422: {"description": "Invalid (see code)"}}


@router.post("/mapping-preview", responses=ERRORS)
def preview(session: DbSession, actor: CurrentActor, payload: MappingPreviewRequest):
    """The source fields of the records and the orders they would make with this (unsaved) mapping."""
    return mapping.preview(session, actor=actor, records=payload.records, mapping=payload.mapping)


@router.post("/{connector_id}/mapping/sample", response_model=SampleRead, responses=ERRORS)
def sample(session: DbSession, actor: CurrentActor, connector_id: int):
    """The saved connector's first records (its saved settings and secrets)."""
    connector = connector_service.get_connector(session, actor=actor, connector_id=connector_id)
    return connector_service.fetch_sample(session, actor=actor, settings=settings_for(connector.kind, connector.settings),
                                          secrets=ConnectorSecrets(), mapping=None, connector_id=connector_id)


@router.put("/{connector_id}/mapping", response_model=MappingVersionRead, responses=ERRORS)
def save(session: DbSession, actor: CurrentActor, connector_id: int, payload: MappingSaveRequest):
    return mapping.save_mapping(session, actor=actor, connector_id=connector_id, mapping=payload.mapping, now=utcnow())


@router.get("/{connector_id}/mapping/versions", response_model=list[MappingVersionRead], responses=ERRORS)
def versions(session: DbSession, actor: CurrentActor, connector_id: int):
    return mapping.list_versions(session, actor=actor, connector_id=connector_id)


@router.get("/{connector_id}/mapping/versions/{version}", responses=ERRORS)
def version(session: DbSession, actor: CurrentActor, connector_id: int, version: int):
    return mapping.get_version(session, actor=actor, connector_id=connector_id, version=version)


@router.post("/{connector_id}/mapping/versions/{version}/restore", response_model=MappingVersionRead,
             responses=ERRORS)
def restore(session: DbSession, actor: CurrentActor, connector_id: int, version: int):
    return mapping.restore(session, actor=actor, connector_id=connector_id, version=version, now=utcnow())


@router.get("/{connector_id}/mapping/export", responses=ERRORS)
def export(session: DbSession, actor: CurrentActor, connector_id: int, version: int | None = None):
    """The mapping as a JSON file (download)."""
    document = mapping.export(session, actor=actor, connector_id=connector_id, version=version)
    name = f"connector-{connector_id}-mapping-v{document['version'] or 0}.json"
    return Response(json.dumps(document, ensure_ascii=False, indent=2), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/{connector_id}/mapping/import", response_model=MappingVersionRead, responses=ERRORS)
async def import_mapping(request: Request, session: DbSession, actor: CurrentActor, connector_id: int):
    """A file from export (the body, or a multipart field `file`), validated, saved as a new version."""
    from fastapi.concurrency import run_in_threadpool

    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise GendanError("mapping.bad_json")
        body = await upload.read(mapping.MAX_IMPORT_BYTES + 1)
    else:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > mapping.MAX_IMPORT_BYTES:
                break
    return await run_in_threadpool(mapping.import_json, session, actor=actor, connector_id=connector_id, body=body,
                                   now=utcnow())
