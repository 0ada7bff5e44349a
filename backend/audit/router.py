"""Audit API (/api/v1/audit): admins read the trail; nobody writes it over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.audit import read
from backend.audit.schemas import AuditFilter, AuditPage
from backend.auth.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPage, responses={401: {"description": "Not signed in"},
                                                    403: {"description": "Not an administrator"},
                                                    422: {"description": "Invalid filter or cursor"}})
def list_events(session: DbSession, actor: CurrentActor, filters: Annotated[AuditFilter, Query()]) -> AuditPage:
    return read.list_events(session, actor=actor, filters=filters)
