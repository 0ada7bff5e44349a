"""A bench's own PostgreSQL database, dropped and made anew for each run (the benches that fill
one: bench/order_scores.py, bench/supplier_lookup.py, bench/import_rows.py).

No `backend` import: bench/supplier_lookup.py runs as a file with a base tree's backend first on
the path and imports this module as its sibling (`fresh_pg`).
"""

from __future__ import annotations

import sqlalchemy as sa


def fresh_database(url: str) -> None:
    """Drop and create the database `url` names (its server's `postgres` database does it)."""
    admin_url = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)).set(database="postgres")
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
