"""Many rows into one table in the session's transaction, at the fewest statements: the set-based
import path's writer (backend/ingest/bulk.py).

PostgreSQL: `COPY ... FROM STDIN` on the session's own connection (same transaction, so a batch
that rolls back leaves none of its rows); ids, when wanted, are taken from the table's sequence
first (one `nextval` query for the whole batch) and copied with the rows, so nothing is read back.
A multi-row `INSERT ... VALUES` of 10,000 rows costs more in the driver (psycopg splits the huge
statement's placeholders in Python) than the database spends writing them.
SQLite: one executemany `INSERT`, the ids counted back from `last_insert_rowid()`.

Values go through each column type's bind processor first (UTC datetimes, JSON), so the rows
written are exactly what an ORM insert of the same values writes. Every row must name the same
columns; columns left out take their server default (or NULL).

Write-behind (`background=True`, PostgreSQL): the rows are converted in the caller's thread, then
a writer thread sends the COPY and waits for the server to finish it (index upkeep, foreign-key
checks: most of the server's work of a batch) while the caller goes on with the batch's Python.
Order is kept by psycopg's connection lock: the writer takes it before `insert_rows` returns, and
every later statement, COPY, commit or rollback of the session waits for it. A COPY the server
refuses is raised by the next `insert_rows` or by the commit (`settle`), as the same SQLAlchemy
error a foreground COPY raises; a rollback discards it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from operator import itemgetter
from typing import Any

import psycopg
from sqlalchemy import JSON, Table, event, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.elements import Null
from sqlmodel import Session

from backend.models_base import UTCDateTime

_PENDING = "gendan.bulk_insert.pending"  # session.info: (future, statement) of the write-behind COPY
_writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gendan-copy")


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, ids: bool = False,
                background: bool = False, columns: tuple[str, ...] | None = None) -> list[int]:
    """Insert `rows` (dicts with the same keys) into `table`; with `ids`, their new primary keys
    in the rows' order (else an empty list). Flushes the session first (pending ORM rows the new
    rows refer to are written before them). `background`: on PostgreSQL the COPY finishes in a
    writer thread (see the module docstring); the values must not be needed later by the server
    in this thread before the next statement, which waits for it anyway. `columns`: the columns to
    write, each row a mapping holding at least those (an ORM object's `__dict__`); else every
    row's keys.

    Without `ids`, the rows are converted for the COPY before waiting for the previous write-behind
    COPY (`settle`): the conversion needs no connection, so it runs while the server still works
    on the previous rows (a batch's events while its orders are inserted)."""
    if not rows:
        settle(session)
        return []
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        settle(session)
        session.flush()
        if columns is not None:
            rows = [{k: row[k] for k in columns} for row in rows]
        return _insert_elsewhere(conn, table, rows, ids)
    names = list(columns) if columns is not None else list(rows[0])
    if ids:
        names = [n for n in names if n != "id"]
        settle(session)
        session.flush()
        new_ids = list(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                    {"t": table.name, "n": len(rows)}).scalars())
        prepared = _prepared(table, conn.dialect, names, rows, new_ids)
    else:
        new_ids = []
        prepared = _prepared(table, conn.dialect, names, rows, None)
        settle(session)
        session.flush()
    columns_sql = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in (["id"] if ids else []) + names)
    statement = f"COPY {conn.dialect.identifier_preparer.format_table(table)} ({columns_sql}) FROM STDIN"
    dbapi = conn.connection.dbapi_connection
    if not background:
        _copy(dbapi, statement, prepared, None)
        return new_ids
    started = threading.Event()
    future = _writers.submit(_copy, dbapi, statement, prepared, started)
    # the writer holds the connection's lock before this returns (or has failed), so nothing this
    # thread sends next can overtake the COPY
    while not started.wait(0.05):
        if future.done():
            break
    session.info[_PENDING] = (future, statement)
    return new_ids


def _insert_elsewhere(conn: Any, table: Table, rows: list[dict[str, Any]], ids: bool) -> list[int]:
    if conn.dialect.name == "sqlite":
        # one executemany; SQLite holds its one write lock from the first row on, so the rows take
        # consecutive rowids ending at last_insert_rowid() (an INSERT ... RETURNING that keeps the
        # rows' order goes one statement per row on SQLite)
        conn.execute(insert(table), rows)
        if not ids:
            return []
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        return list(range(last - len(rows) + 1, last + 1))
    if not ids:
        conn.execute(insert(table), rows)
        return []
    return list(conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


def _prepared(table: Table, dialect: Any, names: list[str], rows: list[Any], new_ids: list[int] | None
              ) -> list[list[Any]]:
    """Each row as a list in `names` order (its new id first, when given), the columns with a bind
    processor (JSON, ...) converted."""
    getter = itemgetter(*names) if len(names) > 1 else (lambda row, _n=names[0]: (row[_n],))
    shift = 1 if new_ids is not None else 0  # the id goes first
    converted = [(i + shift, p) for i, p in enumerate(_copy_processor(table.c[n].type, dialect) for n in names)
                 if p is not None]
    prepared = []
    for n, row in enumerate(rows):
        values = [new_ids[n], *getter(row)] if new_ids is not None else list(getter(row))
        for i, p in converted:
            values[i] = p(values[i])
        prepared.append(values)
    return prepared


def _copy(dbapi: Any, statement: str, rows: list[list[Any]], started: threading.Event | None) -> None:
    cursor = dbapi.cursor()
    try:
        with cursor.copy(statement) as copy:
            if started is not None:
                started.set()
            write = copy.write_row
            for values in rows:
                write(values)
    finally:
        cursor.close()


def settle(session: Session) -> None:
    """Wait for the session's write-behind COPY, raising what the server answered to it."""
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    future, statement = pending
    exc = future.exception()
    if exc is None:
        return
    if isinstance(exc, psycopg.Error):
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    raise exc


@event.listens_for(OrmSession, "before_commit")
def _settle_before_commit(session: OrmSession) -> None:
    settle(session)


@event.listens_for(OrmSession, "after_soft_rollback")
def _discard_after_rollback(session: OrmSession, previous_transaction: Any) -> None:
    # any rollback (of the transaction or of a savepoint) waited for the COPY: either it rolled the
    # COPY back too, or the COPY had succeeded, or it failed and the savepoint statement raised first
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        pending[0].exception()


def _utc(value: Any) -> Any:
    """`UTCDateTime.process_bind_param` on PostgreSQL (an aware datetime in UTC; naive refused)."""
    if value is None:
        return None
    zone = value.tzinfo
    if zone is UTC:
        return value
    if zone is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _copy_processor(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """How a value of `column_type` goes into a text COPY: the type's bind processor, except for
    plain JSON columns, whose values are serialised here to the text SQLAlchemy and psycopg would
    send (`json.dumps`; None as JSON `null` unless the type says `none_as_null`), without a
    wrapper object and a dumper lookup per value."""
    if type(column_type) is UTCDateTime and dialect.name == "postgresql":
        return _utc  # its bind processor without the TypeDecorator's wrapping, per value of each row
    if type(column_type) is not JSON:
        return column_type._cached_bind_processor(dialect)
    none = None if column_type.none_as_null else "null"

    def to_text(value: Any) -> Any:
        if value is None:
            return none
        kind = type(value)
        if not value and (kind is list or kind is dict):  # most orders' tags, risk flags, data
            return "[]" if kind is list else "{}"
        if value is JSON.NULL:
            return "null"
        if isinstance(value, Null):
            return None
        return json.dumps(value)

    return to_text
