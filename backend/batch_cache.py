"""Values read once per batch: the bulk import validates and starts flows for thousands of new
orders in one transaction that holds the write lock, so definitions (the published form, the
published flow, parsed versions) cannot change under it and are read once, not once per order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

_BATCH_CACHE = "gendan.batch_cache"


@contextmanager
def batch_cache(session: Session) -> Iterator[None]:
    """Within the block, `cached` reads each key once per session."""
    session.info[_BATCH_CACHE] = {}
    try:
        yield
    finally:
        session.info.pop(_BATCH_CACHE, None)


def cached(session: Session, key: tuple, read: Callable[[], Any]) -> Any:
    """`read()`, once per key inside `batch_cache`, every time outside it."""
    cache = session.info.get(_BATCH_CACHE)
    if cache is None:
        return read()
    if key not in cache:
        cache[key] = read()
    return cache[key]
