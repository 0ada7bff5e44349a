"""The org chart as an engine Directory, loaded in three queries (users, departments, roles)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from backend.people.models import Department, User, UserRole
from backend.people.org import head_above
from engine.flows import StaticDirectory


def load_directory(session: Session) -> StaticDirectory:
    """Managers are `backend.people.org.head_above`, for every user from one read of the departments."""
    users = session.exec(select(User.id, User.department_id, User.is_active)).all()
    departments = {d.id: (d.parent_id, d.head_id) for d in session.exec(select(Department)).scalars().all()}
    active = {uid for uid, _, is_active in users if is_active}
    roles: dict[str, list[int]] = {}
    for user_id, role in session.exec(select(UserRole.user_id, UserRole.role).order_by(UserRole.user_id)).all():
        if user_id in active:
            roles.setdefault(role, []).append(user_id)
    managers: dict[int, int] = {}
    for user_id, department_id, _ in users:
        manager = head_above(user_id, department_id, departments.get)
        if manager is not None:
            managers[user_id] = manager
    return StaticDirectory(
        roles={role: tuple(ids) for role, ids in roles.items()},
        managers=managers,
        inactive=frozenset(uid for uid, _, _ in users) - active,
    )
