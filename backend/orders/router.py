"""Orders JSON API (/api/v1/orders): thin; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.orders import service
from backend.orders.schemas import OrderCreate, OrderEventRead, OrderFilter, OrderPage, OrderRead, OrderUpdate

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not allowed"},
          404: {"description": "No such order, or not visible to you"}, 422: {"description": "Invalid input"}}


@router.get("", response_model=OrderPage, responses=ERRORS)
def list_orders(session: DbSession, actor: CurrentActor, filters: Annotated[OrderFilter, Query()]) -> OrderPage:
    return service.list_orders(session, actor=actor, filters=filters)


@router.post("", response_model=OrderRead, status_code=201, responses=ERRORS)
def create_order(session: DbSession, actor: CurrentActor, payload: OrderCreate, response: Response) -> OrderRead:
    order, created = service.create_order(session, actor=actor, payload=payload, now=utcnow())
    if not created:
        response.status_code = 200
    return order


@router.get("/{order_id}", response_model=OrderRead, responses=ERRORS)
def get_order(session: DbSession, actor: CurrentActor, order_id: int) -> OrderRead:
    return service.get_order(session, actor=actor, order_id=order_id)


@router.patch("/{order_id}", response_model=OrderRead, responses={**ERRORS, 409: {"description": "Stale version"}})
def update_order(session: DbSession, actor: CurrentActor, order_id: int, payload: OrderUpdate) -> OrderRead:
    return service.update_order(session, actor=actor, order_id=order_id, payload=payload, now=utcnow())


@router.get("/{order_id}/events", response_model=list[OrderEventRead], responses=ERRORS)
def list_events(session: DbSession, actor: CurrentActor, order_id: int) -> list[OrderEventRead]:
    return service.list_events(session, actor=actor, order_id=order_id)
