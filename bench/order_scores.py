"""The worker job `order_scores` at scale: refresh the stored scores of many orders on PostgreSQL.

    .venv/bin/python -m bench.order_scores                  # 200,000 orders, 5,000 customers
    .venv/bin/python -m bench.order_scores --orders 1000000 --customers 20000

Its own database (`autodecide_bench`, from GENDAN_BENCH_SCORES_URL), migrated, filled by
PostgreSQL itself (bench/order_book.py: 40% open orders, the rest completed or cancelled, 80% with
a planned delivery, one shipment on a third of the orders), five suppliers in `data.supplier`, a
fifth of the orders flagged, urge events. Times the first refresh (every open order changes) and a
second one (nothing changed). A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import sqlalchemy as sa

import backend.models  # noqa: F401
from backend.db import make_engine
from backend.migrate import upgrade
from backend.scores import service as scores_service
from backend.scores.models import OrderScoreMark
from backend.scores.service import refresh
from bench import fresh_pg, order_book

URL = os.environ.get("GENDAN_BENCH_SCORES_URL", "postgresql://postgres@127.0.0.1:5432/autodecide_bench")
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)


def load(engine: sa.Engine, orders: int, customers: int) -> None:
    with engine.begin() as conn:
        order_book.fill(conn, orders=orders, customers=customers, seed=0.14, prefix="B",
                        data="jsonb_build_object('supplier', (array['Acme','Bolt','Cord','Dune','Echo'])[1 + mod(g, 5)])",
                        risk_flags="case when random() < 0.2 then '[\"quality\"]'::jsonb else '[]'::jsonb end",
                        carrier="(array['SF','JD','YTO'])[1 + mod(id, 3)]")
        conn.exec_driver_sql("""
            insert into order_event (order_id, type, at) select id, 'urged',
                '2026-11-24'::timestamptz - (random() * 40) * interval '1 day' from sales_order where mod(id, 7) = 0""")
        conn.exec_driver_sql("analyze")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=5_000)
    args = parser.parse_args()
    fresh_pg.fresh_database(URL)
    upgrade(URL)
    engine = make_engine(URL)
    t0 = time.perf_counter()
    load(engine, args.orders, args.customers)
    print(f"loaded {args.orders:,} orders, {args.customers:,} customers in {time.perf_counter() - t0:.1f} s")
    for label in ("first refresh (all open orders change)", "second refresh (nothing changed)"):
        t0 = time.perf_counter()
        with engine.begin() as conn:
            changed = refresh(conn, NOW)
        print(f"{label}: {time.perf_counter() - t0:.1f} s, {changed:,} row updates")
    # the change-driven drain (backend/scores/on_change.py): what a closed order of one customer marks,
    # then what a closed order with a supplier marks (that supplier's open orders, a fifth of the book)
    scores_service._last_day[0] = NOW.date()
    for label, marks in (("drain: an order and its customer", [("order", "1"), ("customer", "7")]),
                         ("drain: an order, its customer and supplier", [("order", "2"), ("customer", "8"),
                                                                         ("supplier", "Acme")])):
        with engine.begin() as conn:
            conn.execute(sa.insert(OrderScoreMark.__table__),
                         [{"kind": k, "key": v, "created_at": NOW} for k, v in marks])
        t0 = time.perf_counter()
        with engine.begin() as conn:
            changed = scores_service.refresh_changed(conn, NOW)
        print(f"{label}: {time.perf_counter() - t0:.2f} s, {changed:,} row updates")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    engine.dispose()


if __name__ == "__main__":
    main()
