"""Benchmark: the time-rule scan over 1,000,000 open orders in PostgreSQL with 100 rules.

Measures (numbers go to docs/benchmarks.md):
  1. the compiled conditions, one query per rule (what the worker ran before the one-pass scan) and all
     rules in one pass (bench/rules_worker.py times the worker's own scan);
  2. hand-written SQL for the same predicates, in one pass;
  3. the reference evaluator in Python, order by order, on a sample, scaled to all orders;
  4. the event path: 100 event rules for one order change, p99 in process.

Usage: .venv/bin/python bench/rules_scan.py [--orders 1000000] [--sample 5000]
Needs the local PostgreSQL (GENDAN_BENCH_PG_URL, default postgres@127.0.0.1/gendan_rules_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import func, select, text
from sqlmodel import Session

import backend.models  # noqa: F401  (every table, for foreign keys)
from backend.customers.models import Customer
from backend.db import make_engine
from backend.migrate import upgrade
from backend.orders.models import Order
from backend.people.models import User
from engine.calendar import BusinessCalendar
from engine.facts import FactContext, build_facts, default_catalogue
from engine.jsonlogic import matches
from engine.rules.compiler import compile_condition
from engine.rules.hoist import hoist_json

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
URL = os.environ.get("GENDAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/gendan_rules_bench")
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
STAGES = ["draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing", "payment"]
CATALOGUE = default_catalogue().with_designed([("incoterm", "string"), ("weight", "number"), ("rush", "bool")])
ORDER = Order.__table__


def prepare(orders: int) -> sa.Engine:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = URL.rsplit("/", 1)[1]
    with admin.connect() as conn:
        exists = conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).first()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    upgrade(URL)
    engine = make_engine(URL)
    with engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(ORDER)).scalar_one()
        if have == orders:
            return engine
        print(f"seeding {orders} orders ...", flush=True)
        started = time.perf_counter()
        conn.execute(text("TRUNCATE sales_order, customer, app_user RESTART IDENTITY CASCADE"))
    with Session(engine) as session:  # ORM rows get every column default
        session.add_all(User(username=f"u{g}", display_name=f"User {g}", email=f"u{g}@x.test", password_hash="x",
                             created_at=NOW) for g in range(1, 51))
        session.add_all(Customer(code=f"C{g}", name=f"Customer {g}", email=f"c{g}@x.test", created_at=NOW)
                        for g in range(1, 201))
        session.commit()
    with engine.begin() as conn:
        stages = "ARRAY[" + ",".join(f"'{s}'" for s in STAGES) + "]"
        conn.execute(text(f"""
            INSERT INTO sales_order (number, customer_id, owner_id, amount, currency, stage, status,
                stage_entered_at, planned_delivery, payment_due, source, data, tags, risk_flags, urge_count,
                last_customer_contact_at, version, created_at, updated_at)
            SELECT 'B' || g, 1 + (g * 7) % 200, 1 + (g * 13) % 50, ((g * 7919) % 500000) / 1.0,
                CASE WHEN g % 10 = 0 THEN 'USD' ELSE 'CNY' END,
                ({stages})[1 + (g * 31) % 8],
                'open',
                :now - make_interval(mins => ((g * 104729) % (60 * 24 * 30))::int),
                CASE WHEN g % 17 = 0 THEN NULL ELSE (:now)::date + ((g * 37) % 90 - 30)::int END,
                CASE WHEN g % 5 = 0 THEN NULL ELSE (:now)::date + ((g * 53) % 60 - 20)::int END,
                'bench', jsonb_build_object('incoterm', (ARRAY['FOB','CIF','EXW'])[1 + g % 3],
                                            'weight', (g % 1000) / 10.0, 'rush', g % 7 = 0),
                CASE WHEN g % 11 = 0 THEN '["vip"]'::jsonb ELSE '[]'::jsonb END, '[]'::jsonb,
                ((g * 3) % 5)::int,
                CASE WHEN g % 3 = 0 THEN NULL ELSE :now - make_interval(hours => ((g * 17) % 500)::int) END,
                1, :now - make_interval(days => ((g * 29) % 120)::int), :now
            FROM generate_series(1::bigint, CAST(:n AS bigint)) g
        """), {"now": NOW, "n": orders})
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE sales_order"))
    return engine


def rules() -> list[tuple[dict, str]]:
    """100 conditions (JSON-logic) with their hand-written SQL twin (same semantics on this data)."""
    now = f"TIMESTAMPTZ '{NOW.isoformat()}'"
    today = "DATE '2026-11-26'"
    out: list[tuple[dict, str]] = []
    for i in range(100):
        stage = STAGES[i % 8]
        kind = i % 5
        if kind == 0:
            hours = 12 + i
            out.append(({"and": [{"==": [{"var": "stage"}, stage]}, {">": [{"var": "hours_in_stage"}, hours]}]},
                        f"(stage = '{stage}' AND stage_entered_at < {now} - interval '{hours} hours')"))
        elif kind == 1:
            days = i % 7
            out.append(({"and": [{"!!": [{"var": "payment_due"}]},
                                 {"<=": [0, {"var": "days_until_payment_due"}, days]}]},
                        f"(payment_due BETWEEN {today} AND {today} + {days})"))
        elif kind == 2:
            amount = 1000 * i
            out.append(({"and": [{">=": [{"var": "amount"}, amount]}, {"in": [{"var": "stage"}, [stage, "approval"]]}]},
                        f"(amount >= {amount} AND stage IN ('{stage}', 'approval'))"))
        elif kind == 3:
            out.append(({"and": [{"==": [{"var": "data.incoterm"}, "FOB"]}, {">": [{"var": "data.weight"}, i]}]},
                        f"(data->>'incoterm' = 'FOB' AND (data->>'weight')::float8 > {i})"))
        else:
            hours = 8 + i % 40
            out.append(({"and": [{"==": [{"var": "stage"}, stage]},
                                 {">": [{"var": "working_hours_in_stage"}, hours]}]}, None))
    return out


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5000)
    args = parser.parse_args()
    engine = prepare(args.orders)
    ctx = FactContext(now=NOW, calendar=BusinessCalendar())
    pairs = rules()
    compiled = [compile_condition(logic, CATALOGUE, ORDER.c, ctx) for logic, _ in pairs]
    open_orders = ORDER.c.status == "open"
    results: dict[str, float | int] = {"orders": args.orders, "rules": len(pairs)}

    with engine.connect() as conn:
        # as the worker runs its scan (backend/rules/scan.py): JIT compiling a hundred conditions
        # costs more than it saves, for hand-written and compiled SQL alike
        conn.execute(text("SET jit = off"))
        counts: list[int] = []

        def per_rule():
            counts.clear()
            for cond in compiled:
                counts.append(conn.execute(select(func.count()).select_from(ORDER).where(open_orders, cond)).scalar_one())

        results["compiled_per_rule_s"] = timed(per_rule)

        results["matches_total"] = sum(counts)
        one_pass = select(*[func.count().filter(c) for c in compiled]).select_from(ORDER).where(open_orders)
        results["compiled_one_pass_s"] = timed(lambda: conn.execute(one_pass).one(), repeat=2)
        one_pass_counts = list(conn.execute(one_pass).one())
        assert one_pass_counts == counts, "one pass and per-rule counts differ"

        hand_idx = [i for i, (_, sql) in enumerate(pairs) if sql]
        hand = "SELECT " + ", ".join(f"count(*) FILTER (WHERE {pairs[i][1]})" for i in hand_idx) + \
               " FROM sales_order WHERE status = 'open'"
        same = select(*[func.count().filter(compiled[i]) for i in hand_idx]).select_from(ORDER).where(open_orders)
        results["hand_written_one_pass_s"] = timed(lambda: conn.execute(text(hand)).one(), repeat=2)
        results["compiled_same_predicates_one_pass_s"] = timed(lambda: conn.execute(same).one(), repeat=2)
        hand_counts = list(conn.execute(text(hand)).one())
        assert hand_counts == [counts[i] for i in hand_idx], "hand-written SQL disagrees with the compiler"
        # the worker's rendering: designed fields read once per order (engine/rules/hoist.py)
        table, hoisted = hoist_json(ORDER, [compiled[i] for i in hand_idx], open_orders)
        worker_same = select(*[func.count().filter(c) for c in hoisted]).select_from(table)
        results["worker_rendering_same_predicates_one_pass_s"] = timed(lambda: conn.execute(worker_same).one(),
                                                                       repeat=2)
        assert list(conn.execute(worker_same).one()) == hand_counts, "the worker's rendering disagrees"

        sample = [dict(r._mapping) for r in conn.execute(select(ORDER).order_by(ORDER.c.id).limit(args.sample))]

    logics = [logic for logic, _ in pairs]

    def python_sample():
        for row in sample:
            facts = build_facts(row, CATALOGUE, ctx)
            for logic in logics:
                matches(logic, facts)

    per_order = timed(python_sample) / len(sample)
    results["python_per_order_ms"] = per_order * 1000
    results["python_scaled_s"] = per_order * args.orders
    results["python_vs_scan_ratio"] = results["python_scaled_s"] / results["compiled_one_pass_s"]
    results["python_vs_per_rule_scan_ratio"] = results["python_scaled_s"] / results["compiled_per_rule_s"]
    results["compiled_vs_hand_ratio"] = (results["compiled_same_predicates_one_pass_s"]
                                         / results["hand_written_one_pass_s"])
    results["worker_rendering_vs_hand_ratio"] = (results["worker_rendering_same_predicates_one_pass_s"]
                                                 / results["hand_written_one_pass_s"])

    # event path: 100 event rules for one order change (facts built once, every rule evaluated)
    event_rules = [logic for logic, _ in pairs]
    row = sample[0]
    timings = []
    for _ in range(2000):
        started = time.perf_counter()
        facts = build_facts(row, CATALOGUE, ctx)
        for logic in event_rules:
            matches(logic, facts)
        timings.append(time.perf_counter() - started)
    timings.sort()
    results["event_100_rules_p50_ms"] = statistics.median(timings) * 1000
    results["event_100_rules_p99_ms"] = timings[int(len(timings) * 0.99)] * 1000
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
