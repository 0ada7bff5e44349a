"""Admin pages for people: users (create, roles, department, deactivate) and departments (the org
chart as a tree)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.people import service as people_service
from backend.people.models import ROLES
from backend.people.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from frontend.pages.admin import (
    AdminActor,
    _clean,
    _error_field,
    _flash,
    _gendan_errors,
    _optional_int,
    _pop_flash,
    _validate,
)
from frontend.templating import render

router = APIRouter(prefix="/admin")


# ---------------------------------------------------------------- the org chart as a tree

@dataclass
class DepartmentNode:
    id: int
    name: str
    parent_id: int | None
    head_id: int | None
    head_name: str | None
    member_count: int
    children: list[DepartmentNode] = field(default_factory=list)


def department_tree(departments: list[DepartmentRead], users: list[UserRead]) -> list[DepartmentNode]:
    """Roots first, children sorted by name; a department whose parent is missing is a root."""
    names = {u.id: u.display_name for u in users}
    members: dict[int, int] = {}
    for u in users:
        if u.department_id is not None and u.is_active:
            members[u.department_id] = members.get(u.department_id, 0) + 1
    nodes = {d.id: DepartmentNode(d.id, d.name, d.parent_id, d.head_id, names.get(d.head_id) if d.head_id else None,
                                  members.get(d.id, 0)) for d in departments}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.name)
    return sorted(roots, key=lambda n: n.name)


def _flat_departments(tree: list[DepartmentNode], depth: int = 0) -> list[tuple[DepartmentNode, int]]:
    out = []
    for node in tree:
        out.append((node, depth))
        out.extend(_flat_departments(node.children, depth + 1))
    return out


def _people_context(session: Session, actor: Actor) -> dict[str, Any]:
    users = people_service.list_users(session, actor=actor)
    departments = people_service.list_departments(session, actor=actor)
    tree = department_tree(departments, users)
    return {"users": users, "departments": departments, "tree": tree, "flat_departments": _flat_departments(tree),
            "department_names": {d.id: d.name for d in departments}, "roles": ROLES}


# ---------------------------------------------------------------- users

@router.get("/users")
def users_page(request: Request, session: DbSession, actor: AdminActor, q: str | None = None):
    ctx = _people_context(session, actor)
    if q:
        ctx["users"] = people_service.list_users(session, actor=actor, q=q.strip()[:100])
    return render(request, "admin/users.html", {"nav": "admin", "tab": "users", "q": q or "",
                                                "flash": _pop_flash(request), **ctx})


@router.get("/users/new")
def new_user_page(request: Request, session: DbSession, actor: AdminActor):
    return render(request, "admin/user_form.html", {"nav": "admin", "tab": "users", "user": None, "form": {},
                                                    "errors": {}, **_people_context(session, actor)})


def _user_form_data(form) -> dict[str, Any]:
    return {
        "username": (form.get("username") or "").strip(), "display_name": (form.get("display_name") or "").strip(),
        "email": _clean(form.get("email")), "phone": _clean(form.get("phone")),
        "department_id": _optional_int(form.get("department_id")), "roles": form.getlist("roles"),
        "locale": _clean(form.get("locale")), "password": form.get("password") or None,
    }


@router.post("/users")
async def create_user(request: Request, session: DbSession, actor: AdminActor):
    return await run_in_threadpool(_create_user, request, session, actor, await request.form())


def _create_user(request: Request, session: Session, actor: Actor, form):
    data = _user_form_data(form)
    payload, errors = _validate(UserCreate, data)
    error = None
    if payload is not None:
        try:
            created = people_service.create_user(session, actor=actor, payload=payload, now=utcnow())
        except GendanError as exc:
            error, errors = _gendan_errors(exc)
            errors.update(_error_field(exc, error))
        else:
            _flash(request, i18n.gettext("User %(name)s was created.", name=created.display_name))
            return RedirectResponse("/admin/users", status_code=303)
    return render(request, "admin/user_form.html", {
        "nav": "admin", "tab": "users", "user": None, "form": data, "errors": errors, "error": error,
        **_people_context(session, actor)}, status_code=422)


@router.get("/users/{user_id}")
def edit_user_page(request: Request, session: DbSession, actor: AdminActor, user_id: int):
    from frontend.pages.audit import history  # audit imports this module's AdminActor

    user = people_service.get_user(session, actor=actor, user_id=user_id)
    return render(request, "admin/user_form.html", {
        "nav": "admin", "tab": "users", "user": user, "form": user.model_dump(), "errors": {},
        "flash": _pop_flash(request), **_people_context(session, actor),
        "history": history(session, actor, "user", user_id), "history_url": f"/admin/audit?entity_type=user&entity_key={user_id}"})


@router.post("/users/{user_id}")
async def update_user(request: Request, session: DbSession, actor: AdminActor, user_id: int):
    return await run_in_threadpool(_update_user, request, session, actor, user_id, await request.form())


def _update_user(request: Request, session: Session, actor: Actor, user_id: int, form):
    user = people_service.get_user(session, actor=actor, user_id=user_id)
    data = _user_form_data(form)
    data.pop("username")
    if not data["password"]:
        data.pop("password")  # empty means "keep the password"
    payload, errors = _validate(UserUpdate, data)
    error = None
    if payload is not None and user_id == actor.user_id and "admin" not in (payload.roles or []):
        error = i18n.translate_error("user.cannot_drop_own_admin", {})
        errors = {"roles": error}
    elif payload is not None:
        try:
            updated = people_service.update_user(session, actor=actor, user_id=user_id, payload=payload)
        except GendanError as exc:
            error, errors = _gendan_errors(exc)
            errors.update(_error_field(exc, error))
        else:
            _flash(request, i18n.gettext("User %(name)s was saved.", name=updated.display_name))
            return RedirectResponse(f"/admin/users/{user_id}", status_code=303)
    return render(request, "admin/user_form.html", {
        "nav": "admin", "tab": "users", "user": user, "form": {**user.model_dump(), **data}, "errors": errors,
        "error": error, **_people_context(session, actor)}, status_code=422)


@router.post("/users/{user_id}/active")
async def set_user_active(request: Request, session: DbSession, actor: AdminActor, user_id: int):
    return await run_in_threadpool(_set_user_active, request, session, actor, user_id, await request.form())


def _set_user_active(request: Request, session: Session, actor: Actor, user_id: int, form):
    is_active = form.get("is_active") == "true"
    if not is_active and user_id == actor.user_id:
        raise GendanError("user.cannot_deactivate_self")
    user = people_service.update_user(session, actor=actor, user_id=user_id, payload=UserUpdate(is_active=is_active))
    _flash(request, i18n.gettext("User %(name)s can sign in again.", name=user.display_name) if is_active
           else i18n.gettext("User %(name)s was deactivated and can no longer sign in.", name=user.display_name))
    return RedirectResponse("/admin/users", status_code=303)


# ---------------------------------------------------------------- departments

@router.get("/departments")
def departments_page(request: Request, session: DbSession, actor: AdminActor):
    return render(request, "admin/departments.html", {
        "nav": "admin", "tab": "departments", "form": {}, "errors": {}, "flash": _pop_flash(request),
        **_people_context(session, actor)})


def _department_form_data(form) -> dict[str, Any]:
    return {"name": (form.get("name") or "").strip(), "parent_id": _optional_int(form.get("parent_id")),
            "head_id": _optional_int(form.get("head_id"))}


@router.post("/departments")
async def create_department(request: Request, session: DbSession, actor: AdminActor):
    return await run_in_threadpool(_create_department, request, session, actor, await request.form())


def _create_department(request: Request, session: Session, actor: Actor, form):
    data = _department_form_data(form)
    payload, errors = _validate(DepartmentCreate, data)
    error = None
    if payload is not None:
        try:
            dep = people_service.create_department(session, actor=actor, payload=payload)
        except GendanError as exc:
            error, errors = _gendan_errors(exc)
            errors.update(_error_field(exc, error, data))
        else:
            _flash(request, i18n.gettext("Department %(name)s was created.", name=dep.name))
            return RedirectResponse("/admin/departments", status_code=303)
    return render(request, "admin/departments.html", {
        "nav": "admin", "tab": "departments", "form": data, "errors": errors, "error": error,
        **_people_context(session, actor)}, status_code=422)


@router.get("/departments/{department_id}")
def edit_department_page(request: Request, session: DbSession, actor: AdminActor, department_id: int):
    ctx = _people_context(session, actor)
    dep = next((d for d in ctx["departments"] if d.id == department_id), None)
    if dep is None:
        raise GendanError("department.not_found", {"id": department_id})
    return render(request, "admin/department_form.html", {
        "nav": "admin", "tab": "departments", "dep": dep, "form": dep.model_dump(), "errors": {}, **ctx})


@router.post("/departments/{department_id}")
async def update_department(request: Request, session: DbSession, actor: AdminActor, department_id: int):
    return await run_in_threadpool(_update_department, request, session, actor, department_id, await request.form())


def _update_department(request: Request, session: Session, actor: Actor, department_id: int, form):
    data = _department_form_data(form)
    payload, errors = _validate(DepartmentUpdate, data)
    error = None
    if payload is not None:
        try:
            dep = people_service.update_department(session, actor=actor, department_id=department_id,
                                                   payload=payload)
        except GendanError as exc:
            if exc.status == 404 and not exc.fields and exc.params.get("id") == department_id:
                raise
            error, errors = _gendan_errors(exc)
            errors.update(_error_field(exc, error, data))
        else:
            _flash(request, i18n.gettext("Department %(name)s was saved.", name=dep.name))
            return RedirectResponse("/admin/departments", status_code=303)
    session.rollback()
    ctx = _people_context(session, actor)
    dep = next((d for d in ctx["departments"] if d.id == department_id), None)
    if dep is None:
        raise GendanError("department.not_found", {"id": department_id})
    return render(request, "admin/department_form.html", {
        "nav": "admin", "tab": "departments", "dep": dep, "form": data, "errors": errors, "error": error, **ctx},
        status_code=422)
