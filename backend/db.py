"""Database engine and sessions, the same code for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# How long a SQLite writer waits for the write lock before giving up: writers queue, they do not fail,
# so this is a bound on a stuck transaction rather than on ordinary load.
SQLITE_BUSY_TIMEOUT_SECONDS = 60
# Every request thread (Starlette's pool has 40) and the worker's threads may hold a connection while
# they wait for the write lock, so the pool must not be the thing that runs out first.
SQLITE_POOL = {"pool_size": 10, "max_overflow": 54, "pool_timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
POSTGRES_POOL = {"pool_size": 10, "max_overflow": 30, "pool_timeout": 60}
IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}


def make_engine(url: str, **kwargs) -> Engine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                               **{**SQLITE_POOL, **kwargs})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **{**POSTGRES_POOL, **kwargs})


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, enforced foreign keys, and SQLAlchemy's pysqlite SAVEPOINT recipe
    (pysqlite's own transaction handling breaks nested transactions, which tests rely on).

    A transaction that will write begins IMMEDIATE (it takes the write lock at BEGIN, waiting up to
    the busy timeout): a deferred transaction that reads first and writes later must upgrade its
    lock, and SQLite answers "database is locked" at once when that upgrade meets another writer,
    without consulting the busy timeout. Reads begin deferred so pages never queue behind writes.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def new_session(bind: Engine | Connection, *, writes: bool = True) -> Session:
    """A session on an engine, or joined to an open connection's transaction (tests roll it back:
    the session's commits become SAVEPOINT releases).

    `writes=False` promises the session only reads (a GET page): on SQLite its transactions begin
    deferred and never wait for the write lock. Everything else begins IMMEDIATE on SQLite, so
    concurrent writers queue for the lock instead of failing halfway (no effect on PostgreSQL).
    """
    if isinstance(bind, Connection):
        return Session(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
    if writes and bind.dialect.name == "sqlite":
        bind = bind.execution_options(**IMMEDIATE)
    return Session(bind, expire_on_commit=False)
