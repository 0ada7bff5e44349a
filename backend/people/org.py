"""Org-chart queries: who reports to whom, through departments and their heads."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlmodel import Session

from backend.people.models import Department, User, UserRole


def descendant_department_ids(session: Session, root_ids: set[int]) -> set[int]:
    """The departments under `root_ids`, the roots included (one query, walked in memory)."""
    if not root_ids:
        return set()
    rows = session.exec(select(Department.id, Department.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for dep_id, parent_id in rows:
        children.setdefault(parent_id, []).append(dep_id)
    found, stack = set(), list(root_ids)
    while stack:
        dep = stack.pop()
        if dep in found:
            continue
        found.add(dep)
        stack.extend(children.get(dep, ()))
    return found


def team_user_ids(session: Session, user_id: int) -> set[int]:
    """The user plus everyone in the departments they head and the departments below."""
    headed = set(session.exec(select(Department.id).where(Department.head_id == user_id)).scalars().all())
    deps = descendant_department_ids(session, headed)
    members = set()
    if deps:
        members = set(session.exec(select(User.id).where(User.department_id.in_(deps))).scalars().all())
    return members | {user_id}


def head_above(user_id: int, department_id: int | None,
               department: Callable[[int], tuple[int | None, int | None] | None]) -> int | None:
    """The user's manager: the head of their department, or for its head the head of the nearest
    department above. `department(id)` gives (parent id, head id), or None for an unknown id.

    The one definition of "manager": the rules ask it per person, the flows' directory for
    everyone at once. A department tree with a loop (a parent chain that comes back, which the
    database does not forbid) ends the walk instead of looping forever."""
    dep_id, seen = department_id, set()
    while dep_id is not None and dep_id not in seen:
        seen.add(dep_id)
        found = department(dep_id)
        if found is None:
            return None
        parent_id, head_id = found
        if head_id is not None and head_id != user_id:
            return head_id
        dep_id = parent_id
    return None


def manager_of(session: Session, user_id: int) -> int | None:
    """`head_above` for one user, reading departments as it walks up."""
    user = session.get(User, user_id)

    def department(dep_id: int) -> tuple[int | None, int | None] | None:
        dep = session.get(Department, dep_id)
        return (dep.parent_id, dep.head_id) if dep is not None else None

    return head_above(user_id, user.department_id if user else None, department)


def manager_chain(session: Session, user_id: int, levels: int) -> list[int]:
    """逐级主管: the user's manager, their manager, ... up to `levels`."""
    chain: list[int] = []
    current = user_id
    for _ in range(levels):
        nxt = manager_of(session, current)
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
        current = nxt
    return chain


def users_with_role(session: Session, role: str) -> list[int]:
    rows = session.exec(
        select(UserRole.user_id).join(User, User.id == UserRole.user_id)
        .where(UserRole.role == role, User.is_active.is_(True)).order_by(UserRole.user_id)
    ).scalars().all()
    return list(rows)
