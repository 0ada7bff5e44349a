"""Scoring throughput: delay risk for 1,000,000 open orders, from rows to probabilities (issue 14: ≤ 60 s).

    .venv/bin/python -m bench.foresight_score --data ../shared/datasets/olist
    .venv/bin/python -m bench.foresight_score --data ../shared/datasets/olist --orders 200000 --batch 50000

Fits the evaluation's model (bench/foresight_olist.py: MODEL_FEATURES, LightGBM + Platt scaling) on
the Olist training period, then scores `--orders` open orders (handed to the carrier, not yet
delivered) in batches of `--batch`: each batch is made of plain rows (dicts of strings, as a
database or CSV reader hands them over: orders, their items, payments), resampled from the Olist
orders with fresh ids; the rows of the customers, products and sellers are the Olist ones. Timed per
batch: join_tables (rows → columns), build_features (history rates as of each hand-over, the recent
tables) and predict. Making the rows is not timed. Printed: orders, batches, wall and CPU seconds
per step and in total (CPU seconds say what an unloaded machine needs: the shared machine's load
inflates the wall clock), orders/s, peak RSS. A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

from bench.foresight_olist import MODEL_FEATURES, ROOT, TABLES, fit, read_tables
from engine.foresight.olist import (
    FEATURES,
    build_features,
    is_late,
    join_tables,
    labelled,
    learn_history,
    recent_tables,
    time_split,
)


def open_order_rows(tables: dict, start: int, count: int, rng: random.Random) -> tuple[list, list, list]:
    """`count` open orders (orders, items, payments rows) resampled from the handed-over Olist orders."""
    orders = [o for o in tables["orders"] if o["order_delivered_carrier_date"]]
    items_of: dict[str, list] = {}
    for r in tables["items"]:
        items_of.setdefault(r["order_id"], []).append(r)
    payments_of: dict[str, list] = {}
    for r in tables["payments"]:
        payments_of.setdefault(r["order_id"], []).append(r)
    out_orders, out_items, out_payments = [], [], []
    for k in range(start, start + count):
        source = orders[rng.randrange(len(orders))]
        oid = f"open{k:09d}"
        out_orders.append({**source, "order_id": oid, "order_status": "shipped", "order_delivered_customer_date": ""})
        out_items += [{**r, "order_id": oid} for r in items_of.get(source["order_id"], ())]
        out_payments += [{**r, "order_id": oid} for r in payments_of.get(source["order_id"], ())]
    return out_orders, out_items, out_payments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "datasets" / "olist"))
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args(argv)
    folder = Path(args.data)
    if not (folder / TABLES["orders"]).is_file():
        print(f"no {TABLES['orders']} in {folder} (pass --data <folder of the Olist CSV files>)", file=sys.stderr)
        return 2
    if not 1 <= args.batch <= 1_000_000 or not 1 <= args.orders <= 10_000_000:
        print("--batch must be 1..1,000,000 and --orders 1..10,000,000", file=sys.stderr)
        return 2
    tables = read_tables(folder)
    cols = join_tables(tables["orders"], tables["items"], tables["customers"], tables["products"],
                       tables["sellers"], tables["payments"])
    ok = cols.take(np.flatnonzero(labelled(cols)))
    train_idx, _ = time_split(ok.purchase, 0.7)
    train = ok.take(np.sort(train_idx))
    train = train.take(np.argsort(train.purchase, kind="stable"))
    history, recent = learn_history(train), recent_tables(ok)
    keep = [FEATURES.index(f) for f in MODEL_FEATURES]
    started = time.perf_counter()
    model, rounds = fit(build_features(train, history, recent)[:, keep], is_late(train), list(MODEL_FEATURES))
    fit_seconds = time.perf_counter() - started

    rng = random.Random(20261207)
    spent = {"join": 0.0, "features": 0.0, "predict": 0.0}
    cpu = dict(spent)
    scored, mean_p, high = 0, 0.0, 0
    for start in range(0, args.orders, args.batch):
        count = min(args.batch, args.orders - start)
        orders, items, payments = open_order_rows(tables, start, count, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        batch = join_tables(orders, items, tables["customers"], tables["products"], tables["sellers"], payments)
        t1, c1 = time.perf_counter(), time.process_time()
        x = build_features(batch, history, recent)[:, keep]
        t2, c2 = time.perf_counter(), time.process_time()
        p = model.predict(x)
        t3, c3 = time.perf_counter(), time.process_time()
        for step, (a, b, ca, cb) in {"join": (t0, t1, c0, c1), "features": (t1, t2, c1, c2),
                                     "predict": (t2, t3, c2, c3)}.items():
            spent[step] += b - a
            cpu[step] += cb - ca
        scored += len(p)
        mean_p += float(p.sum())
        high += int((p >= 0.3).sum())
        del orders, items, payments, batch, x
    total, total_cpu = sum(spent.values()), sum(cpu.values())
    load = os.getloadavg()
    print(f"Delay-risk scoring of open orders — {platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
          f" python {sys.version.split()[0]}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  model: {len(MODEL_FEATURES)} features, {rounds} trees, fitted on {len(train):,} orders in {fit_seconds:.1f} s")
    print(f"  scored {scored:,} orders in {-(-args.orders // args.batch)} batches of {args.batch:,}")
    print("                                 wall s   CPU s (this process)")
    print(f"  rows -> columns (join_tables)  {spent['join']:7.1f} {cpu['join']:7.1f}")
    print(f"  features (build_features)      {spent['features']:7.1f} {cpu['features']:7.1f}")
    print(f"  LightGBM predict + Platt       {spent['predict']:7.1f} {cpu['predict']:7.1f}")
    print(f"  total                          {total:7.1f} {total_cpu:7.1f}"
          f"  = {scored / total:,.0f} orders/s wall, {scored / total_cpu:,.0f} orders/s CPU")
    print(f"  mean probability {mean_p / scored:.3f}, {high:,} orders at >= 0.30;"
          f" peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
