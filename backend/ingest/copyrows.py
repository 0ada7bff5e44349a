"""Many rows into one table, as fast as the database takes them: PostgreSQL `COPY ... FROM STDIN`
(ids taken from the table's sequence first when the caller needs them), elsewhere one Core
executemany (SQLite's is already fast). Used by history replay (backend/ingest/history.py).

Why not `insert(...).returning(...)` with many rows on PostgreSQL: SQLAlchemy then renders
multi-row VALUES pages whose parameters psycopg re-parses (most of the 22 s the Olist 10,000 first
took, bench/olist_history.py); COPY sends the rows as data, with no statement to parse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlmodel import Session

COPY_MIN_ROWS = 50  # below this a plain insert is as quick
# JSON columns go as text (COPY's text format: the server reads it as json/jsonb), None as JSON null
# as a Core insert writes it (SQLAlchemy's JSON type, none_as_null off); one encoder,
# no circular check: the values are plain dicts and lists the caller just built
_to_json = json.JSONEncoder(check_circular=False).encode


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, ids: bool = False
                ) -> list[int] | None:
    """Insert `rows` (dicts with the same keys, Python values as for a Core insert) in this
    session's transaction; with `ids`, return the new ids in the order of `rows`."""
    if not rows:
        return [] if ids else None
    conn = session.connection()
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        if ids:
            return list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                        list(rows)).scalars().all())
        session.execute(insert(table), list(rows))
        return None
    columns = list(rows[0])
    new_ids = None
    if ids:
        new_ids = list(conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": len(rows)}).scalars())
        columns = ["id", *columns]
    is_json = [isinstance(table.c[c].type, JSON) for c in columns]
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor().copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for i, row in enumerate(rows):
            values = [new_ids[i], *row.values()] if new_ids is not None else list(row.values())
            copy.write_row([_to_json(v) if j else v for v, j in zip(values, is_json, strict=True)])
    return new_ids
