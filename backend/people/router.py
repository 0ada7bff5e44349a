"""Users and departments API (/api/v1/users, /api/v1/departments)."""

from __future__ import annotations

from fastapi import APIRouter

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.people import service
from backend.people.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["people"])


@router.get("/users", response_model=list[UserRead])
def list_users(session: DbSession, actor: CurrentActor, q: str | None = None, role: str | None = None,
               department_id: int | None = None) -> list[UserRead]:
    return service.list_users(session, actor=actor, q=q, role=role, department_id=department_id)


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(session: DbSession, actor: CurrentActor, payload: UserCreate) -> UserRead:
    return service.create_user(session, actor=actor, payload=payload, now=utcnow())


@router.get("/users/me", response_model=UserRead)
def me(session: DbSession, actor: CurrentActor) -> UserRead:
    return service.get_user(session, actor=actor, user_id=actor.user_id)


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(session: DbSession, actor: CurrentActor, user_id: int) -> UserRead:
    return service.get_user(session, actor=actor, user_id=user_id)


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(session: DbSession, actor: CurrentActor, user_id: int, payload: UserUpdate) -> UserRead:
    return service.update_user(session, actor=actor, user_id=user_id, payload=payload)


@router.get("/departments", response_model=list[DepartmentRead])
def list_departments(session: DbSession, actor: CurrentActor) -> list[DepartmentRead]:
    return service.list_departments(session, actor=actor)


@router.post("/departments", response_model=DepartmentRead, status_code=201)
def create_department(session: DbSession, actor: CurrentActor, payload: DepartmentCreate) -> DepartmentRead:
    return service.create_department(session, actor=actor, payload=payload)


@router.patch("/departments/{department_id}", response_model=DepartmentRead)
def update_department(session: DbSession, actor: CurrentActor, department_id: int,
                      payload: DepartmentUpdate) -> DepartmentRead:
    return service.update_department(session, actor=actor, department_id=department_id, payload=payload)
