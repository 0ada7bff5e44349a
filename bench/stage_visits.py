"""Time in stage at 1,000,000 orders: the event-log window, and the stored stage visits, paired.

    .venv/bin/python -m bench.stage_visits --url postgresql://postgres@127.0.0.1:5432/insight1m_bench \\
        [--migrate] [--runs 3] [--only visits|window[,...]] [--report "time in stage"] [--timeout-s 120]

Data: bench/report_query.py's database (1,000,000 orders, ~8,000,000 events), seeded by its
`prepare` at the revision before insight1m_0001 (run `prepare` with the base code, or downgrade to
partscan_0001). `--migrate` upgrades to insight1m_0001 and times the backfill. Then each report runs
through `backend.reports.service.run` (cold: result cache cleared, fresh session) as the admin and a
team head, over the same data: compiled over the event-log window (the code before
insight1m_0001: `backend.reports.datasets.TABLES` without the visits), over the stored visits (the
stored `seconds` since stagetime_0001). `--migrate` upgrades to the newest revision (insight1m_0001, stagetime_0001) and times it.
Per run: wall time, this process's CPU and the database's CPU (every backend and parallel worker
of the database, sampled from /proc every 50 ms). A benchmark, not a test (target ≤ 2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

import backend.models  # noqa: F401
from backend.db import make_engine
from backend.migrate import alembic_config
from backend.reports import cache, datasets, service
from bench.db_cpu import DatabaseCpu
from bench.orders_list import NOW
from bench.report_query import A_MONTH, TARGET_S, readers
from engine.reports.builtin import BUILTIN_REPORTS

TIME_IN_STAGE = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_time_in_stage")
REPORTS = {
    "day one: time in stage, median + p90, all time": {
        k: TIME_IN_STAGE[k] for k in ("dataset", "dimensions", "measures", "filter")},
    "order events: a month, median + p90 hours per stage entered": {
        "dataset": "order_events", "dimensions": [{"field": "stage_to"}],
        "measures": [{"op": "count"}, {"op": "median", "field": "duration_hours"}, {"op": "p90", "field": "duration_hours"}],
        "filter": {"<=": [{"now": [-30, "days"]}, {"var": "order.created_at"}, {"now": [0, "days"]}]}},
    "orders: a month by owner x week, p90 hours in approval": {
        "dimensions": [{"field": "owner_id"}, {"field": "created_at", "bucket": "week"}],
        "measures": [{"op": "count"}, {"op": "p90", "field": "stage_hours.approval"}], "filter": A_MONTH},
}
def migrate(url: str) -> None:
    engine = make_engine(url, pool_size=2)
    meter = DatabaseCpu(engine)
    load = os.getloadavg()[0]
    with meter.measuring() as used:
        t0, c0 = time.perf_counter(), time.process_time()
        command.upgrade(alembic_config(url), "heads")
        wall = time.perf_counter() - t0
    with engine.connect() as conn:
        visits = conn.exec_driver_sql("select count(*) from order_stage_visit").scalar_one()
        size = conn.exec_driver_sql("select pg_size_pretty(pg_total_relation_size('order_stage_visit'))").scalar_one()
    print(f"upgrade to heads: {wall:.1f} s wall, process CPU {time.process_time() - c0:.1f} s, database CPU "
          f"{used['db_cpu']:.1f} s; {visits:,} visits ({size} with index); load {load:.1f} -> {os.getloadavg()[0]:.1f}",
          flush=True)
    meter.conn.close()
    engine.dispose()


def measure(engine: sa.Engine, runs: int, compiles: list[str]) -> None:
    meter = DatabaseCpu(engine)
    tables = {"visits": datasets.TABLES,
              "window": {k: v for k, v in datasets.TABLES.items() if k != "visit"}}
    print(f"{'report':<62} {'who':<10} {'compile':<7} {'groups':>6} {'p50 s':>6} {'max s':>6} {'cpu s':>6} "
          f"{'db cpu s':>8} {'load':>5}  target")
    for name, definition in REPORTS.items():
        for who, actor in readers(engine).items():
            for compile_ in compiles:
                datasets.TABLES = tables[compile_]
                times, cpus, dbs, groups, error = [], [], [], 0, ""
                for _ in range(runs):
                    cache.CACHE.clear()
                    with Session(engine) as session, meter.measuring() as used:
                        t0, c0 = time.perf_counter(), time.process_time()
                        try:
                            groups = len(service.run(session, actor=actor, definition={**definition, "limit": 1000},
                                                     now=NOW).rows)
                        except Exception as exc:  # a statement timeout (report.too_slow) is a figure too
                            error = getattr(exc, "code", type(exc).__name__)
                        times.append(time.perf_counter() - t0)
                        cpus.append(time.process_time() - c0)
                    dbs.append(used["db_cpu"])
                p50 = statistics.median(times)
                print(f"{name:<62} {who:<10} {compile_:<7} {groups:>6} {p50:>6.2f} {max(times):>6.2f} "
                      f"{statistics.median(cpus):>6.2f} {statistics.median(dbs):>8.2f} {os.getloadavg()[0]:>5.1f}  "
                      f"{error or ('ok' if p50 <= TARGET_S else 'MISSED')}", flush=True)
    datasets.TABLES = tables["visits"]
    meter.conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--migrate", action="store_true")
    parser.add_argument("--only", help="comma-separated compiles: window, visits (default both)")
    parser.add_argument("--report", help="only the reports whose name contains this")
    parser.add_argument("--timeout-s", type=float, help="the reports' statement timeout (default the service's 10 s): "
                        "at a load of 25 a run that needs 2 s of CPU takes 20 s or more")
    args = parser.parse_args(argv)
    if args.report:
        for name in [n for n in REPORTS if args.report not in n]:
            del REPORTS[name]
    if args.timeout_s:
        service.STATEMENT_TIMEOUT_MS = int(args.timeout_s * 1000)
    if args.migrate:
        migrate(args.url)
    engine = make_engine(args.url, pool_size=2)
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    compiles = args.only.split(",") if args.only else ["window", "visits"]
    if not set(compiles) <= {"window", "visits"}:
        parser.error(f"--only: {args.only}")
    measure(engine, args.runs, compiles)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
