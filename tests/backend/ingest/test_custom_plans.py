"""`bulk.custom_plans` (issue 13, fifth pass): inside a set-based batch on PostgreSQL the driver
prepares nothing (each read planned for its own keys), while the server's plan cache stays as it
is, so the foreign-key checks of every row a COPY inserts keep their cached plans (the former `SET
LOCAL plan_cache_mode = force_custom_plan` re-planned them per row). SQLite: nothing to do."""

from __future__ import annotations

from sqlalchemy import text

from backend.ingest import bulk


def test_the_driver_prepares_nothing_inside_and_the_servers_plan_cache_is_untouched(session):
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        with bulk.custom_plans(session):
            assert session.execute(text("SELECT 1")).scalar() == 1
        return
    dbapi = conn.connection.dbapi_connection
    before = dbapi.prepare_threshold
    assert before is not None
    with bulk.custom_plans(session):
        assert dbapi.prepare_threshold is None
        assert session.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
        for _ in range(8):  # more than psycopg's threshold: still never prepared
            session.execute(text("SELECT count(*) FROM sales_order WHERE id = ANY(:ids)"), {"ids": [1, 2]})
        prepared = session.execute(text("SELECT count(*) FROM pg_prepared_statements "
                                        "WHERE statement LIKE '%sales_order WHERE id = ANY%'")).scalar()
        assert prepared == 0
    assert dbapi.prepare_threshold == before
