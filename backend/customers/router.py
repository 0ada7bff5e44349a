"""Customers JSON API (/api/v1/customers): thin; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.customers import service
from backend.customers.schemas import (
    ContactList,
    ContactRead,
    CustomerCreate,
    CustomerFilter,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
)

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not allowed"},
          404: {"description": "No such customer"}, 422: {"description": "Invalid input"}}


@router.get("", response_model=CustomerPage, responses=ERRORS)
def list_customers(session: DbSession, actor: CurrentActor,
                   filters: Annotated[CustomerFilter, Query()]) -> CustomerPage:
    return service.list_customers(session, actor=actor, filters=filters)


@router.post("", response_model=CustomerRead, status_code=201,
             responses={**ERRORS, 409: {"description": "Code already used"}})
def create_customer(session: DbSession, actor: CurrentActor, payload: CustomerCreate) -> CustomerRead:
    return service.create_customer(session, actor=actor, payload=payload, now=utcnow())


@router.get("/{customer_id}", response_model=CustomerRead, responses=ERRORS)
def get_customer(session: DbSession, actor: CurrentActor, customer_id: int) -> CustomerRead:
    return service.get_customer(session, actor=actor, customer_id=customer_id)


@router.patch("/{customer_id}", response_model=CustomerRead,
              responses={**ERRORS, 409: {"description": "Code already used"}})
def update_customer(session: DbSession, actor: CurrentActor, customer_id: int,
                    payload: CustomerUpdate) -> CustomerRead:
    return service.update_customer(session, actor=actor, customer_id=customer_id, payload=payload)


@router.get("/{customer_id}/contacts", response_model=list[ContactRead], responses=ERRORS)
def list_contacts(session: DbSession, actor: CurrentActor, customer_id: int) -> list[ContactRead]:
    return service.list_contacts(session, actor=actor, customer_id=customer_id)


@router.put("/{customer_id}/contacts", response_model=list[ContactRead], responses=ERRORS)
def replace_contacts(session: DbSession, actor: CurrentActor, customer_id: int,
                     payload: ContactList) -> list[ContactRead]:
    """The customer's contacts, all at once: rows not sent are removed; exactly one is primary."""
    return service.replace_contacts(session, actor=actor, customer_id=customer_id, contacts=payload.contacts,
                                    now=utcnow())
