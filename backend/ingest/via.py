"""By which channel new customers arrive: the connector's name or the import file, kept for the
duration of a connector run or an import batch and written as "via" into the audit "create" row of
each customer those make (ingest.service.resolve_customer, ingest.bulk.insert_customers), so the
customer's history says "connector: Tmall shop" or "import: orders-2026-12.csv", not only who."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

_via: ContextVar[str | None] = ContextVar("gendan_customer_via", default=None)
MAX_CHARS = 240


@contextmanager
def channel(text: str | None) -> Iterator[None]:
    token = _via.set(text[:MAX_CHARS] if text else None)
    try:
        yield
    finally:
        _via.reset(token)


def stamped(after: dict[str, Any]) -> dict[str, Any]:
    """A customer's audit "create" values with the channel it came by, when one is set."""
    value = _via.get()
    return {**after, "via": value} if value else after


def for_import_job(process: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate `process(session, job_id, ...)`: customers it creates say "import: <file name>"."""

    @wraps(process)
    def wrapper(session, job_id, *args, **kwargs):
        from backend.ingest.models import ImportJob

        job = session.get(ImportJob, job_id)
        with channel(f"import: {job.filename}" if job is not None else None):
            return process(session, job_id, *args, **kwargs)

    return wrapper
