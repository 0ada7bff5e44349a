"""Users and departments for tests: make_user(session, roles=[...]) -> User."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlmodel import Session

from backend.auth.passwords import hash_password
from backend.people.models import Department, User, UserRole

_seq = itertools.count(1)
_HASH = hash_password("password123")  # hashing is slow on purpose; tests share one hash


def make_user(session: Session, *, username: str | None = None, roles: tuple[str, ...] | list[str] = ("sales",),
              department: Department | None = None, display_name: str | None = None, locale: str | None = None,
              **overrides) -> User:
    n = next(_seq)
    user = User(username=username or f"user{n}", display_name=display_name or f"User {n}",
                email=f"user{n}@example.com", password_hash=_HASH,
                department_id=department.id if department else None, locale=locale,
                created_at=datetime(2026, 1, 1, tzinfo=UTC), **overrides)
    session.add(user)
    session.flush()
    for role in roles:
        session.add(UserRole(user_id=user.id, role=role))
    session.flush()
    return user


def make_department(session: Session, *, name: str | None = None, parent: Department | None = None,
                    head: User | None = None) -> Department:
    dep = Department(name=name or f"Dept {next(_seq)}", parent_id=parent.id if parent else None,
                     head_id=head.id if head else None)
    session.add(dep)
    session.flush()
    return dep


def make_teams(session: Session) -> dict[str, User]:
    """Two sales teams: rep1 (team 1, head1) and rep2 (team 2, head2), and an admin."""
    head1, head2 = make_user(session, display_name="DS Head A"), make_user(session, display_name="DS Head B")
    team1, team2 = make_department(session, head=head1), make_department(session, head=head2)
    return {"admin": make_user(session, roles=["admin"]), "head1": head1, "head2": head2,
            "rep1": make_user(session, department=team1), "rep2": make_user(session, department=team2)}
