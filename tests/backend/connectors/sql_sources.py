"""Source databases for SQL pull tests: a PostgreSQL database and a MariaDB database
`gendan_src_<pid>_<n>`, each with a table `src_orders` and a view `v_orders` over it, dropped
afterwards. MariaDB (127.0.0.1:3306, root) is skipped loudly when it does not answer."""

from __future__ import annotations

import itertools
import os
import warnings
from typing import Any

import pytest
import sqlalchemy as sa

PG_ADMIN = os.environ.get("GENDAN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres").replace(
    "postgresql://", "postgresql+psycopg://", 1)
MARIADB = os.environ.get("GENDAN_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
_n = itertools.count()

TABLE = ("CREATE TABLE src_orders (code VARCHAR(40) NOT NULL PRIMARY KEY, buyer VARCHAR(40), "
         "total VARCHAR(40), status VARCHAR(40), updated TIMESTAMP NULL)")
VIEW = "CREATE VIEW v_orders AS SELECT code, buyer, total, status, updated FROM src_orders"


class SourceDb:
    def __init__(self, kind: str, engine: sa.Engine, name: str, settings: dict[str, Any]):
        self.kind, self.engine, self.name, self.settings = kind, engine, name, settings

    def put(self, *rows: tuple[str, str, str, str, str]) -> None:
        """Insert or replace rows (code, buyer, total, status, updated)."""
        with self.engine.begin() as conn:
            for code, buyer, total, status, updated in rows:
                conn.execute(sa.text("DELETE FROM src_orders WHERE code = :c"), {"c": code})
                conn.execute(sa.text("INSERT INTO src_orders VALUES (:c, :b, :t, :s, :u)"),
                             {"c": code, "b": buyer, "t": total, "s": status, "u": updated})


def _pg() -> SourceDb:
    name = f"gendan_src_{os.getpid()}_{next(_n)}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = sa.create_engine(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA src")
        conn.exec_driver_sql(TABLE.replace("src_orders", "src.src_orders"))
        conn.exec_driver_sql(VIEW.replace("src_orders", "src.src_orders").replace("v_orders", "src.v_orders"))
    engine = sa.create_engine(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, poolclass=sa.pool.NullPool,
                              connect_args={"options": "-c search_path=src"})
    url = engine.url
    return SourceDb("pg", engine, name, {"dialect": "postgresql", "host": url.host, "port": url.port or 5432,
                                         "database": name, "user": url.username, "schema_name": "src"})


def _drop_pg(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _mariadb() -> SourceDb:
    name = f"gendan_src_{os.getpid()}_{next(_n)}"
    root = sa.create_engine(MARIADB, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with root.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}`")
    except Exception as exc:  # noqa: BLE001 - no MariaDB on this machine
        warnings.warn(f"MariaDB at {MARIADB} does not answer ({type(exc).__name__}): SQL pull tests against "
                      f"MariaDB are SKIPPED", stacklevel=2)
        pytest.skip(f"MariaDB does not answer at {MARIADB}")
    root.dispose()
    engine = sa.create_engine(MARIADB.rsplit("/", 1)[0] + "/" + name, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(TABLE)
        conn.exec_driver_sql(VIEW)
    url = engine.url
    return SourceDb("mariadb", engine, name, {"dialect": "mysql", "host": url.host, "port": url.port or 3306,
                                              "database": name, "user": url.username})


def _drop_mariadb(name: str) -> None:
    root = sa.create_engine(MARIADB, poolclass=sa.pool.NullPool)
    with root.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    root.dispose()


@pytest.fixture(params=["pg", "mariadb"])
def sql_source(request):
    src = _pg() if request.param == "pg" else _mariadb()
    try:
        yield src
    finally:
        src.engine.dispose()
        (_drop_pg if src.kind == "pg" else _drop_mariadb)(src.name)


@pytest.fixture
def pg_source():
    src = _pg()
    try:
        yield src
    finally:
        src.engine.dispose()
        _drop_pg(src.name)
