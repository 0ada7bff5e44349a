"""Connector API (admins): thin routes over backend.connectors.service and .runner."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.connectors import runner, service
from backend.connectors.schemas import (
    ConnectorCreate,
    ConnectorRead,
    ConnectorUpdate,
    RecordErrorRead,
    RereadRequest,
    RunRead,
    SampleRead,
    SampleRequest,
    SqlTestRead,
    SqlTestRequest,
)

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])
ERRORS = {403: {"description": "Admins only"}, 404: {"description": "Not found"}, 409: {"description": "Conflict"},
          422: {"description": "Invalid, or the source failed (see code)"}}


@router.get("", response_model=list[ConnectorRead], responses=ERRORS)
def list_connectors(session: DbSession, actor: CurrentActor):
    return service.list_connectors(session, actor=actor, now=utcnow())


@router.post("", status_code=201, response_model=ConnectorRead, responses=ERRORS)
def create_connector(session: DbSession, actor: CurrentActor, payload: ConnectorCreate):
    return service.create_connector(session, actor=actor, payload=payload, now=utcnow())


@router.post("/sample", response_model=SampleRead, responses=ERRORS)
def fetch_sample(session: DbSession, actor: CurrentActor, payload: SampleRequest):
    return service.fetch_sample(session, actor=actor, settings=payload.settings, secrets=payload.secrets,
                                mapping=payload.mapping, connector_id=payload.connector_id)


@router.post("/test-connection", response_model=SqlTestRead, responses=ERRORS)
def test_connection(session: DbSession, actor: CurrentActor, payload: SqlTestRequest):
    """SQL pull: connect read-only, find the view and its columns; 422 says what is wrong."""
    order = service.test_connection(session, actor=actor, settings=payload.settings, secrets=payload.secrets,
                                    connector_id=payload.connector_id)
    return SqlTestRead(order=order)


@router.get("/{connector_id}", response_model=ConnectorRead, responses=ERRORS)
def get_connector(session: DbSession, actor: CurrentActor, connector_id: int):
    return service.get_connector(session, actor=actor, connector_id=connector_id, now=utcnow())


@router.patch("/{connector_id}", response_model=ConnectorRead, responses=ERRORS)
def update_connector(session: DbSession, actor: CurrentActor, connector_id: int, payload: ConnectorUpdate):
    return service.update_connector(session, actor=actor, connector_id=connector_id, payload=payload, now=utcnow())


@router.post("/{connector_id}/run", response_model=RunRead | None, responses=ERRORS)
async def run_now(request: Request, session: DbSession, actor: CurrentActor, connector_id: int):
    """Run at once (in this request, under the connector's lease); null when a worker is running it."""
    service.request_run(session, actor=actor, connector_id=connector_id)
    session.rollback()  # the run opens its own sessions
    run = await run_in_threadpool(runner.run_connector, request.app.state.engine, connector_id, utcnow(),
                                  trigger="manual")
    return RunRead.model_validate(run) if run is not None else None


@router.post("/{connector_id}/reread", response_model=ConnectorRead, responses=ERRORS)
def reread(session: DbSession, actor: CurrentActor, connector_id: int, payload: RereadRequest):
    return service.reread_from(session, actor=actor, connector_id=connector_id, since=payload.since, now=utcnow())


@router.get("/{connector_id}/runs", response_model=list[RunRead], responses=ERRORS)
def list_runs(session: DbSession, actor: CurrentActor, connector_id: int):
    return service.list_runs(session, actor=actor, connector_id=connector_id)


@router.get("/{connector_id}/errors", response_model=list[RecordErrorRead], responses=ERRORS)
def list_errors(session: DbSession, actor: CurrentActor, connector_id: int):
    return service.list_record_errors(session, actor=actor, connector_id=connector_id)
