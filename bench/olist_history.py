"""History replay throughput: the 10,000 Olist orders with their past (issue 13: target <= 10 s on PostgreSQL).

    .venv/bin/python -m bench.olist_history                    # PostgreSQL, fresh database, 10,000 rows
    .venv/bin/python -m bench.olist_history --db sqlite --rows 2000
    .venv/bin/python -m bench.olist_history --profile          # cProfile, top functions by own time

A fresh database (bench/import_rows.py:fresh_database on the PostgreSQL database
`gendan_bench_history` of GENDAN_BENCH_HISTORY_PG_URL, or an SQLite file), migrated with alembic, the
standard pipeline assembled; the file goes through the real job path (`upload_import`,
`start_import`, `run_to_end`) with tests/data/olist/mapping_history.json, so the figure is what
`gendan import-olist` costs. Printed: the rows, the orders and history events written, the time
of the import (and of upload + start), rows/s; then the same file again (every row unchanged).
A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

import backend.models  # noqa: F401
from backend.auth.passwords import hash_password
from backend.auth.service import load_actor
from backend.db import make_engine, new_session
from backend.ingest import service
from backend.ingest.history import read_mapping_file
from backend.migrate import upgrade  # noqa: F401  (fresh_database migrates)
from backend.people.models import User, UserRole
from backend.pipeline_assembly import assemble
from bench import import_rows
from bench.import_rows import fresh_database, olist

OLIST = Path(__file__).resolve().parents[1] / "tests" / "data" / "olist"
MAPPING = read_mapping_file(OLIST / "mapping_history.json")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
# its own database: bench/import_rows.py drops and recreates `gendan_bench_import` (WITH FORCE)
PG_URL = os.environ.get("GENDAN_BENCH_HISTORY_PG_URL", "postgresql://postgres@127.0.0.1:5432/gendan_bench_history")


def backend_cpu(engine) -> float | None:
    """CPU seconds used so far by the PostgreSQL server processes serving this database (same
    machine: read from /proc), or None when they cannot be read."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        total = 0.0
        try:
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None
    return total


def run(engine, content: bytes, actor_id: int, batch_size: int, profiler: cProfile.Profile | None
        ) -> tuple[float, float, float, float | None, service.ImportJob]:
    began = time.perf_counter()
    with new_session(engine) as session:
        actor = load_actor(session, actor_id)
        job = service.upload_import(session, actor=actor, filename="olist.csv", content=content, now=NOW,
                                    max_bytes=200_000_000).job
        service.start_import(session, actor=actor, job_id=job.id, mapping=MAPPING, now=NOW)
    queued = time.perf_counter()
    cpu, server = time.process_time(), backend_cpu(engine)
    if profiler:
        profiler.enable()
    service.run_to_end(engine, job.id, NOW, batch_size=batch_size)
    if profiler:
        profiler.disable()
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    after = backend_cpu(engine)
    server = after - server if after is not None and server is not None else None
    with new_session(engine) as session:
        job = session.get(service.ImportJob, job.id)
        session.expunge(job)
    return queued - began, done - queued, cpu, server, job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    print(f"# {platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, batch {args.batch_size}")
    import_rows.PG_URL = PG_URL
    url = fresh_database(args.db)
    engine = assemble(make_engine(url))
    with new_session(engine) as session:
        user = User(username="bench", display_name="Bench", email="bench@example.com",
                    password_hash=hash_password("password123"), created_at=NOW)
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role="admin"))
        session.commit()
        actor_id = user.id
    content = olist(args.rows)
    profiler = cProfile.Profile() if args.profile else None
    for label in ("first import", "same file again"):
        setup, took, cpu, server, job = run(engine, content, actor_id, args.batch_size, profiler if label == "first import" else None)
        rows = job.total_rows
        with engine.connect() as conn:
            orders = conn.execute(sa.text("SELECT count(*) FROM sales_order")).scalar_one()
            history = conn.execute(sa.text("SELECT count(*) FROM order_event WHERE type = 'history'")).scalar_one()
        print(f"olist {rows} with history, {args.db} ({label}): created {job.created_count}, unchanged "
              f"{job.unchanged_count}, refused {job.failed_count}; {orders} orders, {history} history events; "
              f"import {took:6.2f} s = {rows / took:7.0f} rows/s, {cpu:.2f} s CPU in Gendan's process"
              f"{'' if server is None else f', {server:.2f} s in PostgreSQL'} (upload + start {setup:.2f} s; "
              f"load {os.getloadavg()[0]:.2f})", flush=True)
    engine.dispose()
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
