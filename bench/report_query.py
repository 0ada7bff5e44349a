"""Reports at scale: a month of orders by stage and owner with p90 time in stage, at 1,000,000 orders.

    .venv/bin/python -m bench.report_query                 # load once (kept), then measure
    .venv/bin/python -m bench.report_query --reload --runs 5

Data: bench/orders_list.py's generator (1,000,000 orders over two years, ~6 events each, 10 sales
teams) in its own database `reports_bench` (GENDAN_BENCH_REPORTS_PG_URL). Each report runs through
`backend.reports.service.run` (catalogue, access clause, compiler, query) on a fresh session with
the result cache cleared (cold), then once more with the cache (warm). A benchmark, not a test;
figures go to docs/benchmarks.md (target: ≤ 2 s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

import backend.models  # noqa: F401
from backend.db import make_engine
from backend.migrate import upgrade
from backend.reports import cache, service
from bench.db_cpu import DatabaseCpu
from bench.orders_list import NOW, actor_for, ensure_database, load

DEFAULT_URL = os.environ.get("GENDAN_BENCH_REPORTS_PG_URL", "postgresql://postgres@127.0.0.1:5432/reports_bench")
TARGET_S = 2.0
A_MONTH = {"<=": [{"now": [-30, "days"]}, {"var": "created_at"}, {"now": [0, "days"]}]}

REPORTS = {
    "month by stage x owner, count + median/p90 hours in stage": {
        "dimensions": [{"field": "stage"}, {"field": "owner_id"}],
        "measures": [{"op": "count"}, {"op": "median", "field": "hours_in_stage"}, {"op": "p90", "field": "hours_in_stage"}],
        "filter": A_MONTH, "limit": 1000},
    "month by owner x week, p90 hours in approval (event log)": {
        "dimensions": [{"field": "owner_id"}, {"field": "created_at", "bucket": "week"}],
        "measures": [{"op": "count"}, {"op": "p90", "field": "stage_hours.approval"}],
        "filter": A_MONTH, "limit": 1000},
    "all orders by month x stage, count + sum amount": {
        "dimensions": [{"field": "created_at", "bucket": "month"}, {"field": "stage"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}], "limit": 1000},
}


def prepare(url: str, *, orders: int = 1_000_000, customers: int = 20_000, reload: bool = False) -> sa.Engine:
    """The bench database at `url`, migrated and loaded once (bench/orders_list.py's generator): the
    seeding every report bench shares (report_datasets adds its rows on top, report_day_one reads)."""
    ensure_database(url, reload=reload)
    upgrade(url)
    engine = make_engine(url, pool_size=2)
    with engine.connect() as conn:
        have = conn.execute(sa.text("select count(*) from sales_order where source = 'bench'")).scalar_one()
    if have == 0:
        print(f"loading {orders:,} orders ...", flush=True)
        t0 = time.perf_counter()
        load(engine, orders, customers)
        print(f"loaded in {time.perf_counter() - t0:.0f} s", flush=True)
    return engine


def readers(engine: sa.Engine) -> dict[str, Any]:
    """The two readers every report bench runs as: the admin (every order) and a team head."""
    return {"admin": actor_for(engine, "bench.admin"), "team head": actor_for(engine, "bench.t1.s1")}


def measure(engine: sa.Engine, reports: dict[str, dict], runs: int, *, warm: bool = True) -> float:
    """Each report as each reader: `runs` cold runs (result cache cleared, fresh session) and, with
    `warm`, one from the cache; one line each with this process's CPU, the database's CPU (every
    backend and parallel worker, bench/db_cpu.py; medians) and the load average. A statement timeout
    (`report.too_slow`) is a figure too. Returns the worst cold median."""
    width = max(len(n) for n in reports) + 2
    meter = DatabaseCpu(engine)
    print(f"{'report':<{width}} {'who':<10} {'groups':>6} {'cold p50 s':>10} {'max s':>7} {'cpu s':>6} {'db cpu s':>8} "
          f"{'warm ms':>8} {'load':>5}  target")
    worst = 0.0
    for name, definition in reports.items():
        for who, actor in readers(engine).items():
            times, cpus, dbs, groups, error = [], [], [], 0, ""
            for _ in range(runs):
                cache.CACHE.clear()
                with Session(engine) as session, meter.measuring() as used:
                    t0, c0 = time.perf_counter(), time.process_time()
                    try:
                        groups = len(service.run(session, actor=actor, definition=definition, now=NOW).rows)
                    except Exception as exc:  # a statement timeout (report.too_slow) is a figure too
                        error = getattr(exc, "code", type(exc).__name__)
                    times.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                dbs.append(used["db_cpu"])
            warm_ms = float("nan")
            if warm and not error:
                with Session(engine) as session:
                    t0 = time.perf_counter()
                    service.run(session, actor=actor, definition=definition, now=NOW)
                    warm_ms = (time.perf_counter() - t0) * 1000
            p50 = statistics.median(times)
            worst = max(worst, p50)
            print(f"{name:<{width}} {who:<10} {groups:>6} {p50:>10.2f} {max(times):>7.2f} {statistics.median(cpus):>6.2f} "
                  f"{statistics.median(dbs):>8.2f} {warm_ms:>8.1f} {os.getloadavg()[0]:>5.1f}  "
                  f"{error or ('ok' if p50 <= TARGET_S else 'MISSED')}", flush=True)
    meter.conn.close()
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)
    engine = prepare(args.url, orders=args.orders, customers=args.customers, reload=args.reload)
    with engine.connect() as conn:
        n_orders = conn.execute(sa.text("select count(*) from sales_order")).scalar_one()
        n_events = conn.execute(sa.text("select reltuples::bigint from pg_class where relname = 'order_event'")).scalar_one()
    print(f"\n{n_orders:,} orders, ~{n_events:,} events; {platform.node()} ({os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; now = {NOW:%Y-%m-%d}\n")
    worst = measure(engine, REPORTS, args.runs)
    engine.dispose()
    print(f"\nworst cold p50 {worst:.2f} s (target {TARGET_S:.0f} s); load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
