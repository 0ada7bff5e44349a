"""What the report cache's data version costs per report run, by data set (issue 16).

    .venv/bin/python -m bench.report_data_version                 # 300,000 to-dos, 300,000 firings
    .venv/bin/python -m bench.report_data_version --rows 1000000 --keep

A to-dos report's data version reads the newest to-do id and the newest `closed_at` (index
`ix_inbox_item_closed_at`), a firings report's the newest firing id, besides the newest order event
and order every report reads (backend/reports/service.py `data_version`). This fills a database of
its own (`reportui_bench`, dropped afterwards unless --keep) inside PostgreSQL (INSERT … SELECT)
with that many to-dos (half closed, at random times) and firings, then times `data_version` per data
set (median of --runs) and prints the plan of the to-dos look-up. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa
from sqlmodel import Session

import backend.models  # noqa: F401
from backend.db import make_engine
from backend.migrate import upgrade
from backend.reports import service

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
NAME = "reportui_bench"


def _fill(engine, rows: int) -> None:
    from tests.factories.orders import make_order
    from tests.factories.people import make_user

    with Session(engine) as session:  # one person and one order the rows belong to
        owner = make_user(session)
        user, order = owner.id, make_order(session, owner=owner).id
        session.commit()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO inbox_item (dedupe_key, order_id, assignee_id, kind, title, priority, state, source, payload,"
            " body, created_at, closed_at) "
            f"SELECT 'b' || g, NULL, {user}, 'task', 't', 'normal', CASE WHEN mod(g, 2) = 0 THEN 'done' ELSE 'open' END,"
            " 'manual', '{}', '', now() - interval '400 days' + g * interval '1 minute',"
            " CASE WHEN mod(g, 2) = 0 THEN now() - random() * interval '400 days' END"
            f" FROM generate_series(1, {rows}) g")
        conn.exec_driver_sql(
            "INSERT INTO rule_firing (rule_key, rule_version, order_id, episode, trigger, fired_at, effects, problems) "
            f"SELECT 'bench', 1, {order}, g, 'scan', now(), '[]', '[]' FROM generate_series(1, {rows}) g")
        conn.exec_driver_sql("ANALYZE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    admin = sa.create_engine(ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{NAME}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + NAME
    try:
        upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        _fill(engine, args.rows)
        print(f"filled {args.rows:,} to-dos and {args.rows:,} firings in {time.perf_counter() - started:.1f} s")
        with Session(engine) as session:
            for dataset in ("orders", "todos", "firings"):
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    service.data_version(session, dataset)
                    times.append(time.perf_counter() - t)
                print(f"data_version({dataset!r}): median {statistics.median(times) * 1000:.2f} ms, "
                      f"max {max(times) * 1000:.2f} ms over {args.runs} runs")
            plan = session.connection().exec_driver_sql(
                "EXPLAIN SELECT max(id), max(closed_at) FROM inbox_item").scalars().all()
            print("plan of the to-dos look-up:\n  " + "\n  ".join(plan))
        engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
