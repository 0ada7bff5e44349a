"""Users and departments: admin use cases; reading is open to every signed-in user (pickers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.auth.passwords import hash_password
from backend.clock import utcnow
from backend.errors import GendanError
from backend.people.models import Department, User, UserRole
from backend.people.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)

USER_AUDITED = ("username", "display_name", "email", "phone", "department_id", "locale", "is_active", "password_hash")
DEPARTMENT_AUDITED = ("name", "parent_id", "head_id")

def _user_snapshot(session: Session, user: User) -> dict:
    """The audited fields plus the roles (the hash is redacted by the audit module)."""
    roles = session.exec(select(UserRole.role).where(UserRole.user_id == user.id)).scalars().all()
    return {**audit.snapshot(user, USER_AUDITED), "roles": sorted(roles)}


def _invalid(path: str, code: str, **params) -> GendanError:
    return GendanError("validation.failed", {"count": 1}, fields={path: (code, {"field": path, **params})})


def _refuse_nulls(changes: dict, names: tuple[str, ...]) -> None:
    nulls = {k: ("field.not_nullable", {"field": k}) for k in names if k in changes and changes[k] is None}
    if nulls:
        raise GendanError("validation.failed", {"count": len(nulls)}, fields=nulls)


def _like(text: str) -> str:
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")


def _user_read(session: Session, user: User) -> UserRead:
    read = UserRead.model_validate(user)
    read.roles = sorted(session.exec(select(UserRole.role).where(UserRole.user_id == user.id)).scalars().all())
    return read


def list_users(session: Session, *, actor: Actor, q: str | None = None, role: str | None = None,
               department_id: int | None = None) -> list[UserRead]:
    stmt = select(User).order_by(User.id)
    if q and q.strip():
        stmt = stmt.where(User.username.ilike(_like(q), escape="\\") | User.display_name.ilike(_like(q), escape="\\"))
    if role:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    users = session.exec(stmt).scalars().all()
    roles: dict[int, list[str]] = {}
    for user_id, r in session.exec(select(UserRole.user_id, UserRole.role)).all():
        roles.setdefault(user_id, []).append(r)
    out = []
    for u in users:
        read = UserRead.model_validate(u)
        read.roles = sorted(roles.get(u.id, []))
        out.append(read)
    return out


def get_user(session: Session, *, actor: Actor, user_id: int) -> UserRead:
    user = session.get(User, user_id)
    if user is None:
        raise GendanError("user.not_found", {"id": user_id})
    return _user_read(session, user)


def create_user(session: Session, *, actor: Actor | None, payload: UserCreate, now: datetime) -> UserRead:
    """`actor=None` is the command line (`gendan user create`), which runs as the machine's owner."""
    if actor is not None:
        _require_admin(actor)
    if payload.department_id is not None and session.get(Department, payload.department_id) is None:
        raise _invalid("department_id", "department.not_found", id=payload.department_id)
    user = User(username=payload.username, display_name=payload.display_name, email=payload.email,
                phone=payload.phone, department_id=payload.department_id, locale=payload.locale,
                password_hash=hash_password(payload.password), created_at=now)
    try:
        with session.begin_nested():  # a taken name undoes only this insert
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise GendanError("user.username_taken", {"username": payload.username}) from exc
    for role in dict.fromkeys(payload.roles):
        session.add(UserRole(user_id=user.id, role=role))
    session.flush()
    audit.record(session, actor, "user", user.id, "create", {}, _user_snapshot(session, user), now)
    session.commit()
    return _user_read(session, user)


def update_user(session: Session, *, actor: Actor, user_id: int, payload: UserUpdate,
                now: datetime | None = None) -> UserRead:
    _require_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise GendanError("user.not_found", {"id": user_id})
    changes = payload.model_dump(exclude_unset=True)
    _refuse_nulls(changes, ("display_name", "roles", "is_active", "password"))
    if "department_id" in changes and changes["department_id"] is not None \
            and session.get(Department, changes["department_id"]) is None:
        raise _invalid("department_id", "department.not_found", id=changes["department_id"])
    before = _user_snapshot(session, user)
    roles = changes.pop("roles", None)
    password = changes.pop("password", None)
    _keep_an_admin(session, user, before, is_active=changes.get("is_active", user.is_active),
                   roles=before["roles"] if roles is None else roles)
    for key, value in changes.items():
        setattr(user, key, value)
    if password:
        user.password_hash = hash_password(password)
    if roles is not None:
        session.exec(delete(UserRole).where(UserRole.user_id == user_id))
        for role in dict.fromkeys(roles):
            session.add(UserRole(user_id=user_id, role=role))
    if password or user.is_active != before["is_active"] or (roles is not None and set(roles) != set(before["roles"])):
        # whatever the user could do with the old password or roles stops now, in every browser and script
        auth_service.revoke_credentials(session, user)
    session.flush()
    audit.record(session, actor, "user", user.id, "update", before, _user_snapshot(session, user), now or utcnow())
    session.commit()
    return _user_read(session, user)


def _keep_an_admin(session: Session, user: User, before: dict, *, is_active: bool, roles: list[str]) -> None:
    """Refuse to deactivate the last active admin or take their role away: nobody could undo it."""
    if not (before["is_active"] and "admin" in before["roles"]) or (is_active and "admin" in roles):
        return
    # the other admins' rows are locked, so two admins demoting each other at once cannot both pass
    others = session.exec(
        select(User.id).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "admin", User.is_active.is_(True), User.id != user.id).with_for_update(of=User)
    ).scalars().all()
    if not others:
        raise GendanError("user.last_admin", {"name": user.display_name})


def set_own_locale(session: Session, *, actor: Actor, locale: str) -> None:
    user = session.get(User, actor.user_id)
    if user is not None:
        user.locale = locale
        session.commit()


def list_departments(session: Session, *, actor: Actor) -> list[DepartmentRead]:
    rows = session.exec(select(Department).order_by(Department.parent_id.is_not(None), Department.id)).scalars().all()
    return [DepartmentRead.model_validate(d) for d in rows]


def _check_department_refs(session: Session, dep_id: int | None, parent_id: int | None, head_id: int | None) -> None:
    if parent_id is not None:
        seen = set()
        current: int | None = parent_id
        while current is not None:
            if current == dep_id or current in seen:
                raise _invalid("parent_id", "department.cycle")
            seen.add(current)
            parent = session.get(Department, current)
            if parent is None:
                raise _invalid("parent_id", "department.not_found", id=current)
            current = parent.parent_id
    if head_id is not None and session.get(User, head_id) is None:
        raise _invalid("head_id", "user.not_found", id=head_id)


def create_department(session: Session, *, actor: Actor | None, payload: DepartmentCreate,
                      now: datetime | None = None) -> DepartmentRead:
    if actor is not None:
        _require_admin(actor)
    _check_department_refs(session, None, payload.parent_id, payload.head_id)
    dep = Department(name=payload.name, parent_id=payload.parent_id, head_id=payload.head_id)
    session.add(dep)
    session.flush()
    audit.record(session, actor, "department", dep.id, "create", {}, audit.snapshot(dep, DEPARTMENT_AUDITED),
                 now or utcnow())
    session.commit()
    return DepartmentRead.model_validate(dep)


def update_department(session: Session, *, actor: Actor, department_id: int, payload: DepartmentUpdate,
                      now: datetime | None = None) -> DepartmentRead:
    _require_admin(actor)
    dep = session.get(Department, department_id)
    if dep is None:
        raise GendanError("department.not_found", {"id": department_id})
    changes = payload.model_dump(exclude_unset=True)
    _refuse_nulls(changes, ("name",))
    _check_department_refs(session, dep.id, changes.get("parent_id"), changes.get("head_id"))
    before = audit.snapshot(dep, DEPARTMENT_AUDITED)
    for key, value in changes.items():
        setattr(dep, key, value)
    audit.record(session, actor, "department", dep.id, "update", before, audit.snapshot(dep, DEPARTMENT_AUDITED),
                 now or utcnow())
    session.commit()
    return DepartmentRead.model_validate(dep)
