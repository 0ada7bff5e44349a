"""Alembic environment: the URL comes from the caller (config attribute) or DATABASE_URL."""

from __future__ import annotations

from alembic import context

import backend.models  # noqa: F401  (fills the metadata)
from backend.db import make_engine, metadata
from backend.orders.models import DATA_TEXT_INDEXES
from backend.settings import get_settings

config = context.config


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Trigram indexes (PostgreSQL-only accelerators, orders_0002) and the designed fields'
    expression indexes (their expression differs by dialect, mendsb_0001) are created in their
    revisions, not declared on the models: autogenerate must not drop them."""
    made_by_revision = (name or "").endswith("_trgm") or name in DATA_TEXT_INDEXES
    return not (type_ == "index" and reflected and compare_to is None and made_by_revision)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
