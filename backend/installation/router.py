"""Installation calendar JSON API (/api/v1/calendar): everyone signed in reads it, admins replace it."""

from __future__ import annotations

from fastapi import APIRouter

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.installation import service
from backend.installation.schemas import CalendarIn, CalendarRead

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not an admin"},
          422: {"description": "Invalid calendar"}}


@router.get("", response_model=CalendarRead, responses=ERRORS)
def get_calendar(session: DbSession, actor: CurrentActor) -> CalendarRead:
    return service.read(service.get_installation(session))


@router.put("", response_model=CalendarRead, responses=ERRORS)
def save_calendar(session: DbSession, actor: CurrentActor, payload: CalendarIn) -> CalendarRead:
    return service.read(service.save_installation(session, actor=actor, data=payload, now=utcnow()))
