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

from typing import Any

from sqlalchemy import Table, insert, text
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
    if ids:
        new_ids = list(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                    {"t": table.name, "n": len(rows)}).scalars())
        rows = [{**row, "id": new_id} for row, new_id in zip(rows, new_ids, strict=True)]
    names = list(rows[0])
    processors = [table.c[name].type._cached_bind_processor(conn.dialect) for name in names]
    columns = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in names)
    table_name = conn.dialect.identifier_preparer.format_table(table)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {table_name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([p(row[n]) if p is not None else row[n] for n, p in zip(names, processors, strict=True)])
    finally:
        cursor.close()
    return new_ids
