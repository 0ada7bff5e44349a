"""Report JSON API (/api/v1/reports): thin; backend/reports/service.py decides."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.reports import dashboards, service
from backend.rules.router import bounded_body

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[Depends(bounded_body)])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not an admin or designer"},
          404: {"description": "No such report"}, 409: {"description": "No draft"},
          413: {"description": "Body over 256 KB"}, 422: {"description": "Invalid definition"}}


class ReportRead(BaseModel):
    key: str
    version: int
    status: str
    definition: dict[str, Any]


class RunRequest(BaseModel):
    definition: dict[str, Any]


class DrillRequest(BaseModel):
    definition: dict[str, Any]
    cell: list[Any] = Field(max_length=3)
    key: str | None = Field(default=None, max_length=80)
    # a dashboard's filters (from, to, team, tier): the list of orders keeps them
    filters: dict[str, str] = Field(default_factory=dict, max_length=4)


def _read(row) -> ReportRead:
    return ReportRead(key=row.key, version=row.version, status=row.status, definition=row.definition)


@router.get("", response_model=list[ReportRead], responses=ERRORS)
def list_reports(session: DbSession, actor: CurrentActor) -> list[ReportRead]:
    return [_read(r) for r in service.list_reports(session)]


@router.post("", response_model=ReportRead, status_code=201, responses=ERRORS)
def save_draft(session: DbSession, actor: CurrentActor, definition: Annotated[dict[str, Any], Body()]) -> ReportRead:
    """Store a definition as its key's draft."""
    return _read(service.save_draft(session, actor=actor, definition=definition, now=utcnow()))


@router.post("/run", responses=ERRORS)
def run(session: DbSession, actor: CurrentActor, body: RunRequest) -> dict[str, Any]:
    """Rows of an unsaved definition, counting only the orders the caller may see."""
    return service.run(session, actor=actor, definition=body.definition, now=utcnow()).as_json()


@router.post("/drill", responses=ERRORS)
def drill(session: DbSession, actor: CurrentActor, body: DrillRequest) -> dict[str, str]:
    """Where to see the orders behind one row: the order list when its filters say the same, else
    the report's own list of those orders."""
    report = service.parse(body.definition, service.catalogue_for(session))
    filters = dashboards.parse_filters(body.filters)
    pairs = service.order_list_query(report, body.cell)
    if pairs is not None and filters == dashboards.DashboardFilters():
        return {"url": "/orders?" + urlencode(pairs)}
    import json

    params = {"cell": json.dumps(body.cell)}
    params.update({k: str(v) for k, v in zip(("from", "to", "team", "tier"), filters.key(), strict=True) if v is not None})
    # a to-dos report lands on the list of those to-dos; every other data set on the orders behind the cell
    what = "todos" if report.dataset == "todos" else "orders"
    if body.key:
        return {"url": f"/reports/{body.key}/{what}?" + urlencode(params)}
    params["definition"] = json.dumps(report.model_dump(mode="json", exclude_defaults=True))
    return {"url": f"/reports/{what}?" + urlencode(params)}


@router.get("/{key}", response_model=ReportRead, responses=ERRORS)
def get_report(session: DbSession, actor: CurrentActor, key: str) -> ReportRead:
    """The working copy (draft, else published): also the JSON export of the report."""
    return _read(service.working_copy(session, key))


@router.get("/{key}/run", responses=ERRORS)
def run_saved(session: DbSession, actor: CurrentActor, key: str) -> dict[str, Any]:
    row = service.published(session, key)
    return service.run(session, actor=actor, definition=row.definition, now=utcnow(),
                       version=(row.key, row.version)).as_json()


@router.post("/{key}/publish", response_model=ReportRead, responses=ERRORS)
def publish(session: DbSession, actor: CurrentActor, key: str) -> ReportRead:
    return _read(service.publish(session, actor=actor, key=key, now=utcnow()))


dashboards_router = APIRouter(prefix="/api/v1/dashboards", tags=["reports"], dependencies=[Depends(bounded_body)])


@dashboards_router.get("", responses=ERRORS)
def list_dashboards(session: DbSession, actor: CurrentActor) -> list[dict[str, Any]]:
    """The dashboards shared with the caller (their current definitions: also the JSON export)."""
    dashboards.ensure_builtin(session, utcnow())
    return [{"key": r.key, "version": r.version, "status": r.status, "definition": r.definition}
            for r in dashboards.visible(session, actor)]


@dashboards_router.post("", status_code=201, responses=ERRORS)
def save_dashboard(session: DbSession, actor: CurrentActor, definition: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Store a layout and publish it (designers)."""
    row = dashboards.save_and_publish(session, actor=actor, definition=definition, now=utcnow())
    return {"key": row.key, "version": row.version, "status": row.status, "definition": row.definition}


@dashboards_router.get("/{key}/tiles/{index}", responses=ERRORS)
def dashboard_tile(request: Request, session: DbSession, actor: CurrentActor, key: str, index: int) -> dict[str, Any]:
    """One tile's rows with the dashboard filters (`from`, `to`, `team`, `tier`) and row-level access."""
    filters = dashboards.parse_filters(dict(request.query_params))
    definition, result = dashboards.run_tile(session, actor=actor, key=key, index=index, filters=filters, now=utcnow())
    return {"report": definition, "result": result.as_json()}
