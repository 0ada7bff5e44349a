"""Test support: a `sales_order` core table on SQLite and on PostgreSQL, no backend imports.

Until the backend's model is used here, this Table mirrors the core columns of
docs/team-contract.md. PostgreSQL comes from GENDAN_TEST_PG_URL (default: local server, scratch
database `gendan_rules_test`, created on first use); its half skips with a loud warning when no
server answers.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    make_url,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

# Like backend.models_base.JSONType: JSONB on PostgreSQL, JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")

PG_URL = os.environ.get(
    "GENDAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gendan_rules_test"
)

metadata = MetaData()
# One table per test process: parallel runs (xdist, two terminals) must not share rows.
_SUFFIX = os.getpid()
sales_order = Table(
    f"rules_test_sales_order_{_SUFFIX}",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("number", String(40)),
    Column("customer_id", Integer),
    Column("owner_id", Integer),
    Column("amount", Numeric(18, 2)),
    Column("currency", String(3)),
    Column("stage", String(60)),
    Column("status", String(20)),
    Column("stage_entered_at", DateTime(timezone=True)),
    Column("planned_delivery", Date),
    Column("payment_due", Date),
    Column("source", String(40)),
    Column("external_id", String(80)),
    Column("form_key", String(80)),
    Column("tags", JSONType),
    Column("risk_flags", JSONType),
    Column("urge_count", Integer),
    Column("last_customer_contact_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("signed_at", DateTime(timezone=True)),
    Column("shipped_at", DateTime(timezone=True)),
    Column("customer_on_time_rate", Float),
    Column("supplier_on_time_rate", Float),
    Column("carrier_on_time_rate", Float),
    Column("priority_score", Integer),
    Column("churn_signals", Integer),
    Column("predicted_stage_done_at", DateTime(timezone=True)),
    Column("predicted_completion_at", DateTime(timezone=True)),
    Column("delay_probability", Float),
    Column("stage_p90_hours", Float),
    Column("data", JSONType),
)
# The same JSON columns as a plain-`json` table, for the PostgreSQL json (not jsonb) code paths.
sales_order_json = Table(
    f"rules_test_sales_order_json_{_SUFFIX}",
    metadata,
    *[Column(c.name, JSON() if c.name in ("tags", "risk_flags", "data") else c.type, primary_key=c.primary_key)
      for c in sales_order.columns],
)

_engines: dict[str, Engine | None] = {}


def get_engine(kind: str) -> Engine | None:
    if kind not in _engines:
        if kind == "sqlite":
            engine = create_engine("sqlite://")
        else:
            _create_database_if_missing(PG_URL)
            engine = create_engine(PG_URL)
            try:
                with engine.connect() as conn:
                    conn.execute(text("select 1"))
            except Exception as exc:  # no server: the PostgreSQL half skips, loudly
                warnings.warn(f"PostgreSQL not reachable at {PG_URL}: {exc}", stacklevel=1)
                engine = None
        if engine is not None:
            metadata.drop_all(engine)
            metadata.create_all(engine)
            atexit.register(_drop, engine)
        _engines[kind] = engine
    return _engines[kind]


def _create_database_if_missing(url: str) -> None:
    """A fresh server has no scratch database: create it, so the PostgreSQL half runs, not skips.

    Two test processes may race here; the loser's CREATE fails and the database exists anyway.
    """
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": target.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception:  # no server, or another process created it first: get_engine reports
        pass
    finally:
        admin.dispose()


def _drop(engine: Engine) -> None:
    with contextlib.suppress(Exception):
        metadata.drop_all(engine)
    engine.dispose()


def db_fixture(request) -> Iterator[Engine]:
    engine = get_engine(request.param)
    if engine is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (GENDAN_TEST_PG_URL)")
    with engine.begin() as conn:
        conn.execute(sales_order.delete())
    yield engine


def insert_orders(engine: Engine, orders: list[dict[str, Any]], table: Table = sales_order) -> None:
    with engine.begin() as conn:
        conn.execute(table.delete())
        if orders:
            blank = {c.name: None for c in table.columns}
            conn.execute(table.insert(), [{**blank, **o} for o in orders])
