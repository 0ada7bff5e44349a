"""A supplier's orders at 200,000 orders on PostgreSQL: the lookups that read `data.supplier`
(revision mendsb_0001's expression index), timed as the code runs them; a carrier's drain beside
them (no index there: it must not get slower).

    .venv/bin/python bench/supplier_lookup.py                                  # this tree
    PYTHONPATH=/tmp/mendsb-base .venv/bin/python bench/supplier_lookup.py      # the base, paired

Its own database (`mendsb_lookup`, from GENDAN_BENCH_LOOKUP_URL), migrated with the code on the path
(the base has no such index), filled by PostgreSQL itself (bench/order_book.py): 200,000 orders of 5,000 customers, 40 %
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

import fresh_pg  # bench/fresh_pg.py and bench/order_book.py, beside this file (run as a file: see above)
import order_book
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


def load(engine: sa.Engine, orders: int, customers: int, suppliers: int) -> None:
    with engine.begin() as conn:
        order_book.fill(conn, orders=orders, customers=customers, seed=0.27, prefix="L",
                        data=f"""case when mod(g, 10) < 3
                                     then jsonb_build_object('supplier', 'S' || mod(g * 7919, {suppliers}),
                                                             'carrier', 'C' || mod(g, 20))
                                     else jsonb_build_object('supplier', 'S' || mod(g * 7919, {suppliers})) end""",
                        carrier="'C' || mod(id * 31, 20)")
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
    fresh_pg.fresh_database(URL)
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
