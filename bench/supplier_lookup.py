"""A supplier's orders at 200,000 orders on PostgreSQL: the lookups that read `data.supplier`
(revision mendsb_0001's expression index), timed as the code runs them; a carrier's drain beside
them (no index there: it must not get slower).

    .venv/bin/python bench/supplier_lookup.py                                  # this tree
    PYTHONPATH=/tmp/mendsb-base .venv/bin/python bench/supplier_lookup.py      # the base, paired

Its own database (`mendsb_lookup`, from GENDAN_BENCH_LOOKUP_URL), migrated with the code on the path
(the base has no such index), filled by PostgreSQL itself: 200,000 orders of 5,000 customers, 40 %
open, 2,000 suppliers (100 orders each), a carrier in `data.carrier` on 30 % (20 carriers), a
shipment on a third; analysed, and every score refreshed once. Then, each 5 times (median, min):
the change-driven drain of one supplier's mark and of one carrier's (backend/scores/service.py
refresh_changed, what an order change triggers), the automatic decisions' history of one supplier
(backend/flows/autodecide.py), and the bare lookup `data->>'supplier' = …`. Wall time, this
process's CPU and the PostgreSQL backend's CPU (from /proc), and the load average beside each.
A benchmark, not a test; figures go to docs/benchmarks.md. Run as a file (no `bench.` imports) so
the base's backend can be put first on the path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

import backend
import backend.models  # noqa: F401
from backend.db import make_engine, new_session
from backend.flows import autodecide
from backend.migrate import upgrade
from backend.scores import service as scores_service
from backend.scores.models import OrderScoreMark

URL = os.environ.get("GENDAN_BENCH_LOOKUP_URL", "postgresql://postgres@127.0.0.1:5432/mendsb_lookup")
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
REPEAT = 5


def fresh_database(url: str) -> None:
    admin_url = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)).set(database="postgres")
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


def load(engine: sa.Engine, orders: int, customers: int, suppliers: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("select setseed(0.27)")
        conn.exec_driver_sql("insert into app_user (username, display_name, password_hash, is_active, created_at) "
                             "values ('bench.owner', 'Owner', 'x', true, now())")
        conn.exec_driver_sql(
            f"insert into customer (name, tier, preferred_locale, preferred_channel, is_unsubscribed, created_at) "
            f"select 'Customer ' || g, (array['key','standard','small'])[1 + mod(g, 3)], 'zh_CN', 'email', false, "
            f"now() from generate_series(1, {customers}) g")
        conn.exec_driver_sql(f"""
            insert into sales_order (number, customer_id, owner_id, amount, currency, stage, status, stage_entered_at,
                planned_delivery, source, data, tags, risk_flags, urge_count, last_customer_contact_at, version,
                created_at, updated_at, closed_at, signed_at)
            select 'L' || g, 1 + mod(g, {customers}), (select min(id) from app_user),
                round((random() * 200000)::numeric, 2), 'CNY', 'production', s.status, c.created,
                case when random() < 0.8 then (c.created + (random() * 60) * interval '1 day')::date end, 'bench',
                case when mod(g, 10) < 3
                     then jsonb_build_object('supplier', 'S' || mod(g * 7919, {suppliers}), 'carrier', 'C' || mod(g, 20))
                     else jsonb_build_object('supplier', 'S' || mod(g * 7919, {suppliers})) end,
                '[]'::jsonb, '[]'::jsonb, 0, c.created + (random() * 20) * interval '1 day', 1, c.created, c.created,
                case when s.status <> 'open' then c.created + (random() * 70) * interval '1 day' end, null
            from generate_series(1, {orders}) g,
                 lateral (select '2026-11-24'::timestamptz - (random() * 500 + g * 0) * interval '1 day' as created) c,
                 lateral (select case when random() + g * 0 < 0.4 then 'open' when random() < 0.85 then 'completed'
                          else 'cancelled' end as status) s
        """)
        conn.exec_driver_sql("""
            insert into shipment (order_id, carrier, tracking_no, state, is_active, failures, created_at, updated_at)
            select id, 'C' || mod(id * 31, 20), 'T' || id, 'pending', false, 0, created_at, created_at
            from sales_order where mod(id, 3) = 0""")
        conn.exec_driver_sql("analyze")


def backend_cpu(conn) -> float:
    pid = conn.exec_driver_sql("select pg_backend_pid()").scalar()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(engine: sa.Engine, label: str, run) -> None:
    walls, cpus, dbs, loads, result = [], [], [], [], None
    for _ in range(REPEAT):
        with engine.connect() as conn:
            db0, t0, c0 = backend_cpu(conn), time.perf_counter(), time.process_time()
            result = run(conn)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            dbs.append(backend_cpu(conn) - db0)
            conn.rollback()  # every repetition from the same state
        loads.append(os.getloadavg()[0])
    print(f"{label:<44} wall median {1000 * statistics.median(walls):8.1f} ms (min {1000 * min(walls):8.1f}), "
          f"process CPU {1000 * statistics.median(cpus):7.1f} ms, PostgreSQL CPU {1000 * statistics.median(dbs):7.1f} ms, "
          f"result {result}, load {min(loads):.2f}-{max(loads):.2f}", flush=True)


def drain(kind: str, key: str):
    def run(conn):
        conn.execute(sa.insert(OrderScoreMark.__table__), [{"kind": kind, "key": key, "created_at": NOW}])
        return scores_service.refresh_changed(conn, NOW)
    return run


def history(supplier: str):
    def run(conn):
        with new_session(conn) as session:
            rows = autodecide._history(session, [{"_at": NOW, "customer_id": 999_999, "supplier": supplier}],
                                       {"supplier_on_time_rate"}, NOW)
        return len(rows)
    return run


def bare(supplier: str):
    def run(conn):
        return len(conn.exec_driver_sql("select id from sales_order where data ->> 'supplier' = %(s)s",
                                        {"s": supplier}).all())
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--suppliers", type=int, default=2_000)
    args = parser.parse_args()
    print(f"# backend from {Path(backend.__file__).parent}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    fresh_database(URL)
    upgrade(URL)
    engine = make_engine(URL)
    t0 = time.perf_counter()
    load(engine, args.orders, args.customers, args.suppliers)
    with engine.begin() as conn:
        indexes = conn.exec_driver_sql("select indexname from pg_indexes where indexname like "
                                       "'ix_sales_order_data_%%'").scalars().all()
        scores_service.refresh(conn, NOW)
    print(f"loaded {args.orders:,} orders, {args.suppliers:,} suppliers, scores refreshed in "
          f"{time.perf_counter() - t0:.1f} s; expression indexes: {', '.join(indexes) or 'none'}")
    scores_service._last_day[0] = NOW.date()  # no urgency edges: the marks alone
    timed(engine, "bare lookup: one supplier's orders", bare("S17"))
    timed(engine, "history: one supplier (autodecide)", history("S17"))
    timed(engine, "drain: one supplier's mark", drain("supplier", "S17"))
    timed(engine, "drain: one carrier's mark (1/20 of shipments)", drain("carrier", "C3"))
    engine.dispose()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
