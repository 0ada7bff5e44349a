"""Column helpers shared by every domain's models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime
from sqlalchemy.types import TypeDecorator

from backend.clock import as_utc


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on both databases (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        return as_utc(value)


# JSON that is JSONB on PostgreSQL (indexable, ->> works the same) and JSON text on SQLite.
from sqlalchemy.dialects.postgresql import JSONB  # noqa: E402

JSONType = JSON().with_variant(JSONB(), "postgresql")
