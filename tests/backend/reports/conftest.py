from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.reports import cache
from tests.factories.people import make_teams


@pytest.fixture(autouse=True)
def _fresh_report_cache() -> Iterator[None]:
    """Tests roll back their data, and SQLite hands the same ids out again: no result outlives its test."""
    cache.CACHE.clear()
    yield
    cache.CACHE.clear()


@pytest.fixture
def teams(session):
    """Two sales teams: rep1 (team 1, head1) and rep2 (team 2, head2), and an admin."""
    return make_teams(session)
