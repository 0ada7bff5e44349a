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

import sqlalchemy as sa
from sqlmodel import Session

import backend.models  # noqa: F401
from backend.db import make_engine
from backend.migrate import upgrade
from backend.reports import cache, service
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)
    ensure_database(args.url, reload=args.reload)
    upgrade(args.url)
    engine = make_engine(args.url, pool_size=2)
    with engine.connect() as conn:
        have = conn.execute(sa.text("select count(*) from sales_order where source = 'bench'")).scalar_one()
    if have == 0:
        print(f"loading {args.orders:,} orders ...", flush=True)
        t0 = time.perf_counter()
        load(engine, args.orders, args.customers)
        print(f"loaded in {time.perf_counter() - t0:.0f} s", flush=True)
    with engine.connect() as conn:
        n_orders = conn.execute(sa.text("select count(*) from sales_order")).scalar_one()
        n_events = conn.execute(sa.text("select reltuples::bigint from pg_class where relname = 'order_event'")).scalar_one()
    print(f"\n{n_orders:,} orders, ~{n_events:,} events; {platform.node()} ({os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; now = {NOW:%Y-%m-%d}\n")
    actors = {"admin": actor_for(engine, "bench.admin"), "team head": actor_for(engine, "bench.t1.s1")}
    print(f"{'report':<60} {'who':<10} {'groups':>6} {'cold p50 s':>10} {'max s':>7} {'warm ms':>8}  target")
    worst = 0.0
    for name, definition in REPORTS.items():
        for who, actor in actors.items():
            times, groups = [], 0
            for _ in range(args.runs):
                cache.CACHE.clear()
                with Session(engine) as session:
                    t0 = time.perf_counter()
                    result = service.run(session, actor=actor, definition=definition, now=NOW)
                    times.append(time.perf_counter() - t0)
                    groups = len(result.rows)
            with Session(engine) as session:
                t0 = time.perf_counter()
                service.run(session, actor=actor, definition=definition, now=NOW)
                warm = (time.perf_counter() - t0) * 1000
            p50 = statistics.median(times)
            worst = max(worst, p50)
            print(f"{name:<60} {who:<10} {groups:>6} {p50:>10.2f} {max(times):>7.2f} {warm:>8.1f}  "
                  f"{'ok' if p50 <= TARGET_S else 'MISSED'}", flush=True)
    engine.dispose()
    print(f"\nworst cold p50 {worst:.2f} s (target {TARGET_S:.0f} s); load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
