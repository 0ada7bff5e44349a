"""Flow JSON API (/api/v1/flows, /api/v1/flow-instances): thin; the services decide."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.flows import autodecide, service, service_instance, service_migrate
from backend.flows.schemas import (
    BacktestIn,
    BacktestRead,
    FlowInstanceRead,
    FlowVersionRead,
    FlowVersionSummary,
    InstanceAction,
    IssueRead,
    SimulationIn,
    SimulationRead,
    TaskAction,
)

router = APIRouter(prefix="/api/v1", tags=["flows"])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not allowed"},
          404: {"description": "No such flow, instance or to-do"},
          409: {"description": "Closed or stale to-do, flow not running, concurrent change"},
          422: {"description": "Invalid definition (issues name the nodes)"}}


@router.get("/flows", response_model=list[FlowVersionSummary], responses=ERRORS)
def list_flows(session: DbSession, actor: CurrentActor) -> list[FlowVersionSummary]:
    return service.list_flows(session, actor=actor)


@router.post("/flows/validate", response_model=list[IssueRead], responses=ERRORS)
def validate_definition(session: DbSession, actor: CurrentActor,
                        definition: Annotated[dict[str, Any], Body()]) -> list[IssueRead]:
    """Every issue that would block publishing (nothing is stored)."""
    return service.validate_definition(session, actor=actor, definition=definition)


@router.post("/flows/simulate", response_model=SimulationRead, responses=ERRORS)
def simulate(session: DbSession, actor: CurrentActor, body: SimulationIn) -> SimulationRead:
    return service.simulate(session, actor=actor, payload=body, now=utcnow())


@router.post("/flows/{key}/backtest", response_model=BacktestRead, responses=ERRORS)
def backtest(session: DbSession, actor: CurrentActor, key: str, body: BacktestIn) -> BacktestRead:
    """Replay the orders that reached an approval node in the last weeks through an auto-approval
    condition: how many it would have approved and how they turned out (nothing is written)."""
    return BacktestRead.model_validate(autodecide.backtest(
        session, actor=actor, key=key, node_key=body.node_key, condition=body.condition, weeks=body.weeks,
        now=utcnow()))


@router.get("/flows/{key}/versions", response_model=list[FlowVersionSummary], responses=ERRORS)
def list_versions(session: DbSession, actor: CurrentActor, key: str) -> list[FlowVersionSummary]:
    return service.list_versions(session, actor=actor, key=key)


@router.get("/flows/{key}/working-copy", response_model=FlowVersionRead | None, responses=ERRORS)
def working_copy(session: DbSession, actor: CurrentActor, key: str) -> FlowVersionRead | None:
    return service.get_working_copy(session, actor=actor, key=key)


@router.get("/flows/{key}/versions/{version}", response_model=FlowVersionRead, responses=ERRORS)
def get_version(session: DbSession, actor: CurrentActor, key: str, version: int) -> FlowVersionRead:
    return service.get_version(session, actor=actor, key=key, version=version)


@router.put("/flows/{key}/draft", response_model=FlowVersionRead, responses=ERRORS)
def save_draft(session: DbSession, actor: CurrentActor, key: str,
               definition: Annotated[dict[str, Any], Body()]) -> FlowVersionRead:
    return service.save_draft(session, actor=actor, key=key, definition=definition, now=utcnow())


@router.delete("/flows/{key}/draft", status_code=204, responses=ERRORS)
def discard_draft(session: DbSession, actor: CurrentActor, key: str) -> Response:
    service.discard_draft(session, actor=actor, key=key)
    return Response(status_code=204)


@router.post("/flows/{key}/publish", response_model=FlowVersionRead, responses=ERRORS)
def publish(session: DbSession, actor: CurrentActor, key: str) -> FlowVersionRead:
    return service.publish_flow(session, actor=actor, key=key, now=utcnow())


@router.post("/flows/{key}/template", response_model=FlowVersionRead, responses=ERRORS)
def from_template(session: DbSession, actor: CurrentActor, key: str,
                  template: Annotated[str, Query()] = "b2b_fulfilment") -> FlowVersionRead:
    return service.install_template(session, actor=actor, key=key, template=template, now=utcnow())


@router.get("/flows/{key}/versions/{version}/export", responses=ERRORS)
def export(session: DbSession, actor: CurrentActor, key: str, version: int,
           format: Annotated[Literal["json", "bpmn"], Query()] = "json") -> Response:
    content, media_type = service.export_flow(session, actor=actor, key=key, version=version, fmt=format)
    suffix = "bpmn" if format == "bpmn" else "json"
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{key}-v{version}.{suffix}"'})


@router.post("/flows/{key}/import", response_model=FlowVersionRead, status_code=201, responses=ERRORS)
async def import_flow(session: DbSession, actor: CurrentActor, key: str, request: Request) -> FlowVersionRead:
    """The body is a JSON export or a BPMN 2.0 XML document; it becomes the draft."""
    content = await request.body()
    # database work off the event loop (an async route would block it while waiting for a lock)
    return await run_in_threadpool(service.import_flow, session, actor=actor, key=key, content=content, now=utcnow())


@router.get("/orders/{order_id}/flows", response_model=list[FlowInstanceRead], responses=ERRORS)
def order_flows(session: DbSession, actor: CurrentActor, order_id: int) -> list[FlowInstanceRead]:
    return service_instance.list_order_flows(session, actor=actor, order_id=order_id)


@router.post("/orders/{order_id}/flows", response_model=FlowInstanceRead, status_code=201, responses=ERRORS)
def start_flow(session: DbSession, actor: CurrentActor, order_id: int,
               key: Annotated[str, Query()] = service.DEFAULT_FLOW_KEY) -> FlowInstanceRead:
    return service_instance.start_order_flow(session, actor=actor, order_id=order_id, key=key, now=utcnow())


@router.post("/flow-instances/{instance_id}/tasks/{task_id}", response_model=FlowInstanceRead, responses=ERRORS)
def act_on_task(session: DbSession, actor: CurrentActor, instance_id: int, task_id: str,
                body: TaskAction) -> FlowInstanceRead:
    return service_instance.act_on_task(session, actor=actor, instance_id=instance_id, task_id=task_id, body=body,
                                        now=utcnow())


@router.post("/flow-instances/{instance_id}", response_model=FlowInstanceRead, responses=ERRORS)
def act_on_instance(session: DbSession, actor: CurrentActor, instance_id: int,
                    body: InstanceAction) -> FlowInstanceRead:
    return service_instance.act_on_instance(session, actor=actor, instance_id=instance_id, body=body, now=utcnow())


@router.post("/flows/{key}/migrations/preview", response_model=service_migrate.MigrationPreview, responses=ERRORS)
def preview_migration(session: DbSession, actor: CurrentActor, key: str,
                      body: service_migrate.MigrationIn) -> service_migrate.MigrationPreview:
    """Where each running order of older versions would go under the node mapping (admins)."""
    return service_migrate.preview_migration(session, actor=actor, key=key, body=body)


@router.post("/flows/{key}/migrations", responses=ERRORS)
def migrate(session: DbSession, actor: CurrentActor, key: str, body: service_migrate.MigrationIn) -> dict[str, Any]:
    """Move the movable running orders to `to_version` (audited as `flow.migrated` order events)."""
    return service_migrate.migrate_instances(session, actor=actor, key=key, body=body, now=utcnow())
