from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.insight import process_map as service


@pytest.fixture(autouse=True)
def _fresh_map_cache() -> Iterator[None]:
    """Tests roll back their data, and SQLite hands the same ids out again: no map outlives its test."""
    service.CACHE.clear()
    yield
    service.CACHE.clear()
