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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.sql.elements import Null
from sqlmodel import Session


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, ids: bool = False) -> list[int]:
    """Insert `rows` (dicts with the same keys) into `table`; with `ids`, their new primary keys
    in the rows' order (else an empty list). Flushes the session first (pending ORM rows the new
    rows refer to are written before them)."""
    if not rows:
        return []
    session.flush()
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        # one executemany; SQLite holds its one write lock from the first row on, so the rows take
        # consecutive rowids ending at last_insert_rowid() (an INSERT ... RETURNING that keeps the
        # rows' order goes one statement per row on SQLite)
        conn.execute(insert(table), rows)
        if not ids:
            return []
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        return list(range(last - len(rows) + 1, last + 1))
    if conn.dialect.name != "postgresql":
        if not ids:
            conn.execute(insert(table), rows)
            return []
        return list(conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())
    new_ids: list[int] = []
    names = list(rows[0])
    if ids:
        new_ids = list(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                    {"t": table.name, "n": len(rows)}).scalars())
        names = [n for n in names if n != "id"]
    # each row as a list in `names` order, the columns with a bind processor (JSON, ...) converted
    getter = itemgetter(*names) if len(names) > 1 else (lambda row, _n=names[0]: (row[_n],))
    converted = [(i, p) for i, p in enumerate(_copy_processor(table.c[n].type, conn.dialect) for n in names)
                 if p is not None]
    columns = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in (["id"] if ids else []) + names)
    table_name = conn.dialect.identifier_preparer.format_table(table)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {table_name} ({columns}) FROM STDIN") as copy:
            write, shift = copy.write_row, 1 if ids else 0  # the id goes first
            for n, row in enumerate(rows):
                values = [new_ids[n], *getter(row)] if ids else list(getter(row))
                for i, p in converted:
                    values[i + shift] = p(values[i + shift])
                write(values)
    finally:
        cursor.close()
    return new_ids


def _copy_processor(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """How a value of `column_type` goes into a text COPY: the type's bind processor, except for
    plain JSON columns, whose values are serialised here to the text SQLAlchemy and psycopg would
    send (`json.dumps`; None as JSON `null` unless the type says `none_as_null`), without a
    wrapper object and a dumper lookup per value."""
    if type(column_type) is not JSON:
        return column_type._cached_bind_processor(dialect)
    none = None if column_type.none_as_null else "null"

    def to_text(value: Any) -> Any:
        if value is None:
            return none
        if value is JSON.NULL:
            return "null"
        if isinstance(value, Null):
            return None
        return json.dumps(value)

    return to_text
