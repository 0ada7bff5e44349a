"""The people a rule needs: an approver whose department head is the boss, a sales rep, an admin."""

from __future__ import annotations

import pytest

from tests.backend.rules.test_service import actor_of
from tests.factories.people import make_department, make_user


@pytest.fixture
def org(session):
    boss = make_user(session, roles=("approver",), display_name="Boss")
    dept = make_department(session, name="Approvals", head=boss)
    approver = make_user(session, roles=("approver",), department=dept, display_name="Approver")
    rep = make_user(session, roles=("sales",), display_name="Rep")
    admin = make_user(session, roles=("admin", "designer"), display_name="Admin")
    session.flush()
    return {"boss": boss, "approver": approver, "rep": rep, "admin": actor_of(admin, "admin", "designer")}
