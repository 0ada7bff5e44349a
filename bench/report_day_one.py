"""The day-one reports that read the new report fields and distinct counts, at 1,000,000 orders.

    .venv/bin/python -m bench.report_day_one [--runs 3]

Data: the database of bench/report_query.py (`reports_bench`: 1,000,000 orders, ~8,000,000 events;
load it with `python -m bench.report_query`). Read only: nothing is added or migrated. Each report
(the shipped definitions in engine/reports/builtin.py, and the same narrowed to orders created in the
last 90 days, as a dashboard's date filter does) runs through `backend.reports.service.run` on a
fresh session with the result cache cleared, as the admin (every order) and a team head. A
benchmark, not a test; figures go to docs/benchmarks.md (target: ≤ 2 s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

from sqlmodel import Session

import backend.models  # noqa: F401
from backend.db import make_engine
from backend.reports import cache, service
from bench.orders_list import NOW, actor_for
from bench.report_query import DEFAULT_URL
from engine.reports.builtin import BUILTIN_REPORTS

TARGET_S = 2.0
KEYS = ("day1_stage_funnel", "day1_on_time_trend", "day1_payment_overdue")
RECENT = {"<=": [{"now": [-90, "days"]}, {"var": "created_at"}, {"now": [0, "days"]}]}
RECENT_EVENTS = {"<=": [{"now": [-90, "days"]}, {"var": "order.created_at"}, {"now": [0, "days"]}]}


def _narrowed(definition: dict) -> dict:
    recent = RECENT_EVENTS if definition.get("dataset") == "order_events" else RECENT
    return {**definition, "filter": {"and": [recent, definition["filter"]]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    engine = make_engine(args.url, pool_size=2)
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    actors = {"admin": actor_for(engine, "bench.admin"), "team head": actor_for(engine, "bench.t1.s1")}
    by_key = {r["key"]: r for r in BUILTIN_REPORTS}
    reports = {**{k: by_key[k] for k in KEYS}, **{f"{k}, 90 days": _narrowed(by_key[k]) for k in KEYS}}
    print(f"{'report':<34} {'who':<10} {'groups':>6} {'cold p50 s':>10} {'max s':>7}  target")
    for name, definition in reports.items():
        for who, actor in actors.items():
            times, groups, error = [], 0, ""
            for _ in range(args.runs):
                cache.CACHE.clear()
                with Session(engine) as session:
                    t0 = time.perf_counter()
                    try:
                        groups = len(service.run(session, actor=actor, definition=definition, now=NOW).rows)
                    except Exception as exc:  # a statement timeout (report.too_slow) is a figure too
                        error = getattr(exc, "code", type(exc).__name__)
                    times.append(time.perf_counter() - t0)
            p50 = statistics.median(times)
            print(f"{name:<34} {who:<10} {groups:>6} {p50:>10.2f} {max(times):>7.2f}  "
                  f"{error or ('ok' if p50 <= TARGET_S else 'MISSED')}", flush=True)
    engine.dispose()
    print(f"\nload average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
