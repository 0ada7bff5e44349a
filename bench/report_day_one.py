"""Every tile of the day-one Sales director dashboard at 1,000,000 orders, over all time.

    .venv/bin/python -m bench.report_day_one [--runs 3] [--recent]

Data: the database of bench/report_query.py (`reports_bench`: 1,000,000 orders, ~8,000,000 events;
seeded by its `prepare` when missing, migrated). Each shipped report (engine/reports/builtin.py)
runs through `backend.reports.service.run` on a fresh session with the result cache cleared, as the
admin (every order) and a team head — what a dashboard tile runs without a date range; `--recent`
adds each narrowed to orders created in the last 90 days (a dashboard's date filter). A benchmark,
not a test; figures go to docs/benchmarks.md (target: ≤ 2 s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import backend.models  # noqa: F401
from bench.report_query import DEFAULT_URL, TARGET_S, measure, prepare
from engine.reports.builtin import BUILTIN_REPORTS

CUSTOMERS = {"dataset": "customers", "dimensions": [{"field": "customer_id"}],
             "measures": [{"op": "sum", "field": "open_value"}, {"op": "sum", "field": "order_count"},
                          {"op": "avg", "field": "on_time_rate"}],
             "sort": [{"by": "m0", "dir": "desc"}], "limit": 10}  # as bench/report_datasets.py runs it
RECENT = {"<=": [{"now": [-90, "days"]}, {"var": "created_at"}, {"now": [0, "days"]}]}
RECENT_EVENTS = {"<=": [{"now": [-90, "days"]}, {"var": "order.created_at"}, {"now": [0, "days"]}]}


def _narrowed(definition: dict) -> dict:
    recent = RECENT_EVENTS if definition.get("dataset") == "order_events" else RECENT
    parts = [recent] + ([definition["filter"]] if definition.get("filter") else [])
    return {**definition, "filter": {"and": parts}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recent", action="store_true")
    parser.add_argument("--skip", nargs="*", default=["day1_time_in_stage"],
                        help="report keys to leave out ('customers': the customers data set); default: time in stage")
    args = parser.parse_args(argv)
    engine = prepare(args.url)
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    reports = {r["key"]: r for r in BUILTIN_REPORTS if r["key"] not in args.skip}
    if "customers" not in args.skip:  # the customers data set's typical report reads every visible order too
        reports["customers data set: top 10 by open value, orders, on-time rate"] = CUSTOMERS
    if args.recent:
        reports |= {f"{r['key']}, 90 days": _narrowed(r) for r in BUILTIN_REPORTS}
    worst = measure(engine, reports, args.runs)
    engine.dispose()
    print(f"\nworst cold p50 {worst:.2f} s (target {TARGET_S:.0f} s); load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
