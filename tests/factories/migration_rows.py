"""Rows written with plain SQL into a database migrated to an older revision (the ORM models are
the newest schema's): a user and a customer to own the old orders."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa


def naive(engine, at: datetime | None) -> datetime | None:
    """SQLite stores naive UTC; PostgreSQL takes the aware value."""
    return at.replace(tzinfo=None) if engine.dialect.name == "sqlite" and at is not None else at


def old_owner_and_customer(conn, engine, ident: int, username: str, at: datetime) -> None:
    """User and customer `ident` (a revision with `app_user.token_generation`)."""
    conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, is_active, created_at, "
                         "token_generation) VALUES (:id, :username, 'Old', 'x', true, :at, 0)"),
                 {"id": ident, "username": username, "at": naive(engine, at)})
    conn.execute(sa.text("INSERT INTO customer (id, name, tier, preferred_locale, preferred_channel, "
                         "is_unsubscribed, created_at) VALUES (:id, 'Old customer', 'key', 'zh_CN', 'email', "
                         "false, :at)"), {"id": ident, "at": naive(engine, at)})
