"""CSV import throughput through the real import job path (upload, start, worker batches).

    .venv/bin/python -m bench.import_rows                          # Olist 10,000, both paths, both databases
    .venv/bin/python -m bench.import_rows --rows 2000 --path row   # the per-row path on 2,000 rows
    .venv/bin/python -m bench.import_rows --synthetic 100000 --db postgresql --path bulk
    .venv/bin/python -m bench.import_rows --rows 500 --profile     # cProfile, top functions by own time

Each run uses a fresh database (SQLite file under /tmp, or the PostgreSQL database
`gendan_bench_import` from GENDAN_BENCH_PG_URL), migrated with alembic, and the standard order
pipeline (`assemble`). The rows go through `upload_import`, `start_import` and `run_to_end` with the
worker's batch size, so the numbers are what an admin's upload costs. The Olist mapping is the one
of tests/backend/ingest/test_olist.py (customers created by code, history stages, closed statuses).
The synthetic file has 100,000 orders, 5,000 customers, a number, amount, planned delivery and a
stage column (a tenth of the rows at `draft`, so the default flow starts on those when installed).
A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

import backend.models  # noqa: F401
from backend.auth.passwords import hash_password
from backend.auth.service import load_actor
from backend.db import make_engine, new_session
from backend.ingest import service
from backend.ingest.schemas import ImportMapping
from backend.migrate import upgrade
from backend.people.models import User, UserRole
from backend.pipeline_assembly import assemble
from bench import fresh_pg

PG_URL = os.environ.get("GENDAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/gendan_bench_import")
OLIST = Path(__file__).resolve().parents[1] / "tests" / "data" / "olist" / "olist_orders_dataset.csv"
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)

# the documented Olist mapping (tests/data/olist/mapping.json), shared by the tests and bench/
OLIST_MAPPING = ImportMapping.model_validate_json((OLIST.parent / "mapping.json").read_text())
SYNTHETIC_MAPPING = ImportMapping(
    columns={"external_id": "ref", "customer_code": "customer_code", "customer": "customer_name",
             "amount": "amount", "planned_delivery": "delivery", "stage": "stage"},
    defaults={"currency": "CNY"}, create_customers=True, source="bench", timezone="Asia/Shanghai",
)


def olist(rows: int) -> bytes:
    lines = OLIST.read_bytes().splitlines(keepends=True)
    return b"".join(lines[: rows + 1])


def synthetic(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    stages = ["draft"] + ["production"] * 3 + ["shipping"] * 3 + ["delivered"] * 3
    out = io.StringIO()
    out.write("ref,customer_code,customer_name,amount,delivery,stage\n")
    for i in range(rows):
        c = rng.randrange(5000)
        out.write(f"B{i:07d},C{c:05d},Customer {c},{rng.randrange(100, 900000) / 100:.2f},"
                  f"2027-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d},{rng.choice(stages)}\n")
    return out.getvalue().encode()


def fresh_database(kind: str) -> str:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="gendan-bench-")) / "import.db"
        url = f"sqlite:///{path}"
    else:
        url = PG_URL
        fresh_pg.fresh_database(url)
    upgrade(url)
    return url


def run(kind: str, content: bytes, mapping: ImportMapping, *, bulk: bool, batch_size: int,
        profile: bool) -> tuple[int, float, float, float | None, str]:
    url = fresh_database(kind)
    engine = assemble(make_engine(url))
    with new_session(engine) as session:
        user = User(username="bench", display_name="Bench", email="bench@example.com",
                    password_hash=hash_password("password123"), created_at=NOW)
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role="admin"))
        session.commit()
        actor = load_actor(session, user.id)
        job = service.upload_import(session, actor=actor, filename="bench.csv", content=content, now=NOW,
                                    max_bytes=200_000_000).job
        service.start_import(session, actor=actor, job_id=job.id, mapping=mapping, now=NOW)
    profiler = cProfile.Profile() if profile else None
    from bench.olist_history import backend_cpu

    server = backend_cpu(engine)
    began, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    service.run_to_end(engine, job.id, NOW, batch_size=batch_size, bulk=bulk)
    if profiler:
        profiler.disable()
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    after = backend_cpu(engine)
    server = after - server if after is not None and server is not None else None
    with new_session(engine) as session:
        done = session.get(service.ImportJob, job.id)
        assert done.state == "done", done.state
        rows = done.created_count + done.existing_count + done.failed_count
    engine.dispose()
    if kind == "sqlite":
        shutil.rmtree(Path(sa.engine.make_url(url).database).parent, ignore_errors=True)
    report = ""
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        report = text.getvalue()
    return rows, took, cpu, server, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="Olist rows (at most 10,000)")
    parser.add_argument("--synthetic", type=int, default=0, help="a synthetic file of this many rows instead")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--path", choices=("row", "bulk", "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="rows per batch (default: the worker's, service.BULK_BATCH_SIZE set-based)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.synthetic:
        content, mapping, label = synthetic(args.synthetic), SYNTHETIC_MAPPING, f"synthetic {args.synthetic}"
    else:
        content, mapping, label = olist(args.rows), OLIST_MAPPING, f"olist {args.rows}"
    print(f"# {platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, batch {args.batch_size}")
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    paths = ("row", "bulk") if args.path == "both" else (args.path,)
    for kind in kinds:
        for path in paths:
            rows, took, cpu, server, report = run(kind, content, mapping, bulk=path == "bulk", batch_size=args.batch_size,
                                          profile=args.profile)
            # the importing process's own CPU time too: on a shared machine the wall time is mostly
            # the wait for a core (the database server's CPU is not in it)
            print(f"{label:>18} {kind:>10} {path:>4}: {rows} rows in {took:7.2f} s = {rows / took:8.0f} rows/s, "
                  f"{1000 * took / rows:6.2f} ms/row; process CPU {cpu:7.2f} s = {1000 * cpu / rows:5.2f} ms/row"
                  + (f", PostgreSQL CPU {server:6.2f} s " if server is not None else " ") +
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
            if report:
                print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
