from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.reports import cache


@pytest.fixture(autouse=True)
def _fresh_report_cache() -> Iterator[None]:
    """Tests roll back their data, and SQLite hands the same ids out again: no result outlives its test."""
    cache.CACHE.clear()
    yield
    cache.CACHE.clear()
