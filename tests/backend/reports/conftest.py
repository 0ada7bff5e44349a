from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.reports import cache
from tests.factories.people import make_department, make_user


@pytest.fixture(autouse=True)
def _fresh_report_cache() -> Iterator[None]:
    """Tests roll back their data, and SQLite hands the same ids out again: no result outlives its test."""
    cache.CACHE.clear()
    yield
    cache.CACHE.clear()


@pytest.fixture
def teams(session):
    """Two sales teams: rep1 (team 1, head1) and rep2 (team 2, head2), and an admin."""
    head1, head2 = make_user(session, display_name="DS Head A"), make_user(session, display_name="DS Head B")
    team1, team2 = make_department(session, head=head1), make_department(session, head=head2)
    return {"admin": make_user(session, roles=["admin"]), "head1": head1, "head2": head2,
            "rep1": make_user(session, department=team1), "rep2": make_user(session, department=team2)}
