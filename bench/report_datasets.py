"""Reports on the data sets besides orders at 1,000,000 orders: one typical query per data set.

    .venv/bin/python -m bench.report_datasets            # add what is missing once (kept), then measure
    .venv/bin/python -m bench.report_datasets --runs 5

Data: the database of bench/report_query.py (`reports_bench`: 1,000,000 orders over two years,
~8,000,000 events, 10 sales teams; seeded by its `prepare` when missing). This adds,
once and inside PostgreSQL (INSERT … SELECT, no rows through Python):
- a published form `bench_lines` with a line-items field `lines` (product, quantity, unit price) and
  1 – 3 lines in every order's `data` (~2,000,000 lines);
- to-dos: an approval to-do per order (the approver; open while the order is in draft or approval)
  and a packing to-do per order past approval (the warehouse; open in production) — ~1,900,000;
- rule firings on every third order (three rules) — ~333,000.
Each report runs through `backend.reports.service.run` (access clause, compiler, query) on a fresh
session with the result cache cleared (cold), then once more with the cache (warm). A benchmark,
not a test; figures go to docs/benchmarks.md (target: ≤ 2 s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime

import sqlalchemy as sa

import backend.models  # noqa: F401
from bench.orders_list import NOW
from bench.report_query import DEFAULT_URL, TARGET_S, measure, prepare

A_MONTH = {"<=": [{"now": [-30, "days"]}, {"var": "order.created_at"}, {"now": [0, "days"]}]}

REPORTS = {
    "line items: a month of orders by product, sum qty + amount": {
        "dataset": "line_items", "dimensions": [{"field": "product"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "quantity"}, {"op": "sum", "field": "line_amount"}],
        "filter": A_MONTH, "sort": [{"by": "m2", "dir": "desc"}], "limit": 50},
    "to-dos: open by role x node, count + p90 open age": {
        "dataset": "todos", "dimensions": [{"field": "role"}, {"field": "node_key"}],
        "measures": [{"op": "count"}, {"op": "p90", "field": "open_age_hours"}],
        "filter": {"==": [{"var": "is_open"}, True]}},
    "events: a month of orders, hours in stage entered, median + p90": {
        "dataset": "order_events", "dimensions": [{"field": "stage_to"}],
        "measures": [{"op": "count"}, {"op": "median", "field": "duration_hours"},
                     {"op": "p90", "field": "duration_hours"}],
        "filter": {"and": [A_MONTH, {"==": [{"var": "type"}, "stage_entered"]}]}},
    "firings: last 90 days by rule x week": {
        "dataset": "firings", "dimensions": [{"field": "rule_key"}, {"field": "fired_at", "bucket": "week"}],
        "filter": {"<=": [{"now": [-90, "days"]}, {"var": "fired_at"}, {"now": [0, "days"]}]}, "limit": 1000},
    "customers: top 10 by open value, orders + on-time rate": {
        "dataset": "customers", "dimensions": [{"field": "customer_id"}],
        "measures": [{"op": "sum", "field": "open_value"}, {"op": "sum", "field": "order_count"},
                     {"op": "avg", "field": "on_time_rate"}],
        "sort": [{"by": "m0", "dir": "desc"}], "limit": 10},
}

LINE_FORM = {"key": "bench_lines", "title": {"en": "Bench lines"}, "fields": [
    {"key": "lines", "type": "line_items", "label": {"en": "Lines"}, "columns": [
        {"key": "product", "type": "text"}, {"key": "quantity", "type": "number"}, {"key": "unit_price", "type": "money"}]}]}


def add_missing(engine: sa.Engine) -> None:
    """Line items, to-dos and firings for the bench orders, once."""
    with engine.begin() as conn:
        if not conn.execute(sa.text("select 1 from form_definition where key = 'bench_lines'")).first():
            t0 = time.perf_counter()
            conn.execute(sa.text(
                "insert into form_definition (key, version, status, definition, created_at, updated_at, published_at)"
                " values ('bench_lines', 1, 'published', cast(:d as jsonb), :now, :now, :now)"),
                {"d": json.dumps(LINE_FORM), "now": NOW})
            conn.execute(sa.text("""
                update sales_order set data = data || jsonb_build_object('lines', (
                    select jsonb_agg(jsonb_build_object('product', 'P' || lpad(((id * 7 + k) % 200)::text, 3, '0'),
                                                        'quantity', 1 + (id + k) % 9,
                                                        'unit_price', 10 + (id * 13 + k) % 90))
                    from generate_series(1, 1 + id % 3) k))"""))
            print(f"  line items added in {time.perf_counter() - t0:.0f} s", flush=True)
    with engine.begin() as conn:
        if not conn.execute(sa.text("select 1 from inbox_item where dedupe_key like 'bench:%' limit 1")).first():
            t0 = time.perf_counter()
            approver = conn.execute(sa.text("select user_id from user_role where role = 'approver' limit 1")).scalar_one()
            clerk = conn.execute(sa.text("select user_id from user_role where role = 'warehouse' limit 1")).scalar_one()
            conn.execute(sa.text("""
                insert into inbox_item (dedupe_key, order_id, assignee_id, kind, title, body, priority, state,
                                        due_at, node_key, source, payload, created_at, closed_at)
                select 'bench:' || id || '-approve', id, :approver, 'approval', 'Approve', '', 'normal',
                       case when stage in ('draft', 'approval') and status = 'open' then 'open' else 'done' end,
                       created_at + interval '24 hours', 'approve', 'flow', '{}'::jsonb, created_at + interval '1 hour',
                       case when stage in ('draft', 'approval') and status = 'open' then null
                            else created_at + (1 + id % 72) * interval '1 hour' end
                from sales_order"""), {"approver": approver})
            conn.execute(sa.text("""
                insert into inbox_item (dedupe_key, order_id, assignee_id, kind, title, body, priority, state,
                                        due_at, node_key, source, payload, created_at, closed_at)
                select 'bench:' || id || '-pack', id, :clerk, 'task', 'Pack', '', 'normal',
                       case when stage = 'production' and status = 'open' then 'open' else 'done' end,
                       stage_entered_at + interval '48 hours', 'pack', 'flow', '{}'::jsonb, stage_entered_at,
                       case when stage = 'production' and status = 'open' then null
                            else stage_entered_at + (1 + id % 96) * interval '1 hour' end
                from sales_order where stage not in ('draft', 'approval')"""), {"clerk": clerk})
            print(f"  to-dos added in {time.perf_counter() - t0:.0f} s", flush=True)
    with engine.begin() as conn:
        if not conn.execute(sa.text("select 1 from rule_firing limit 1")).first():
            t0 = time.perf_counter()
            conn.execute(sa.text("""
                insert into rule_firing (rule_key, rule_version, order_id, episode, trigger, fired_at, effects, problems)
                select (array['late_delivery', 'payment_overdue', 'stalled'])[1 + (id / 3) % 3], 1, id, 1, 'scan',
                       least(created_at + (id % 20) * interval '1 day', :now), '[]'::jsonb, '[]'::jsonb
                from sales_order where id % 3 = 0"""), {"now": NOW})
            print(f"  firings added in {time.perf_counter() - t0:.0f} s", flush=True)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        # the line-items update rewrote every order: vacuum, so the measured scans read no dead rows
        conn.execute(sa.text("vacuum analyze sales_order"))
        conn.execute(sa.text("analyze inbox_item, rule_firing, form_definition"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    engine = prepare(args.url)
    add_missing(engine)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"select reltuples::bigint from pg_class where relname = '{t}'")).scalar_one()
                  for t in ("sales_order", "order_event", "inbox_item", "rule_firing", "customer")}
    print(f"\n~{counts['sales_order']:,} orders, ~{counts['order_event']:,} events, ~{counts['inbox_item']:,} to-dos, "
          f"~{counts['rule_firing']:,} firings, ~{counts['customer']:,} customers; {platform.node()} "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
          f"now = {NOW:%Y-%m-%d}\n")
    worst = measure(engine, REPORTS, args.runs)
    engine.dispose()
    print(f"\nworst cold p50 {worst:.2f} s (target {TARGET_S:.0f} s); load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
