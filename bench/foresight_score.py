"""Scoring throughput: delay risk for 1,000,000 open orders, from rows to probabilities (issue 14: ≤ 60 s).

    .venv/bin/python -m bench.foresight_score --data ../shared/datasets/olist
    .venv/bin/python -m bench.foresight_score --data ../shared/datasets/olist --orders 200000 --batch 50000
    .venv/bin/python -m bench.foresight_score --database [--orders 1000000] [--fresh] [--drop]

`--database`: the app's own scoring job (`backend/foresight/scoring.py:score_all`, what the worker
and a training run do) on PostgreSQL: its own database (`score1m_bench`, GENDAN_BENCH_SCORE_URL),
created and migrated once, `--orders` open orders seeded by COPY (300 customers in 5 regions, 20
owners, five suppliers and four categories in `data`, 4 stages, 90% with a planned delivery) and a
live LightGBM model trained on the patterned test history (tests/factories/foresight_history.py,
with supplier / region / category); reused by the next run when the count matches (`--fresh`: its foresight_score emptied first, so the first scoring inserts every row again), dropped with
`--drop`. Prints wall, this process's CPU, the CPU of the PostgreSQL backends serving it (from
/proc), the load average before and after, and each step's busy seconds.

Without `--database`: the Olist evaluation's model on plain rows, as follows.

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
import json
import os
import platform
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
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


# --- the app's scoring job on PostgreSQL (--database) ------------------------------------------

DB_URL = os.environ.get("GENDAN_BENCH_SCORE_URL", "postgresql://postgres@127.0.0.1:5432/score1m_bench")
STAGES = ("approval", "tech_confirm", "production", "shipping")
REGIONS = ("north", "south", "east", "west", "central")
SUPPLIERS = ("Fastparts", "Slowparts", "Midparts", "Nearparts", "Farparts")
CATEGORIES = ("pumps", "valves", "pipes", "motors")


def _admin(url: str):
    import sqlalchemy as sa

    admin_url = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)).set(database="postgres")
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT"), sa.engine.make_url(url).database


def _ensure_database(url: str) -> bool:
    """Create and migrate the bench database when it is missing; True when it was made now."""
    from backend.migrate import upgrade

    admin, name = _admin(url)
    with admin.connect() as conn:
        exists = conn.exec_driver_sql("select 1 from pg_database where datname = %(n)s", {"n": name}).scalar()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    upgrade(url)  # made now, or a reused one brought to this branch's head (a no-op when there)
    return not exists


def drop_database(url: str) -> None:
    admin, name = _admin(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _seed(engine, orders: int, now) -> None:
    """Owners, customers and `orders` open orders, the orders by COPY (seeded, deterministic)."""
    rng = np.random.default_rng(14)
    with engine.begin() as conn:
        conn.exec_driver_sql("truncate foresight_score, sales_order, customer, app_user, foresight_model "
                             "restart identity cascade")
        conn.exec_driver_sql("insert into app_user (username, display_name, password_hash, is_active, created_at) "
                             "select 'bench' || g, 'rep' || g, 'x', true, now() from generate_series(0, 19) g")
        conn.exec_driver_sql(
            "insert into customer (name, tier, region, preferred_locale, preferred_channel, is_unsubscribed, "
            "created_at) select (array['Acme','Beta','Gamma','Delta','Slowco'])[1 + mod(g, 5)] || case when g >= 5 "
            "then ' ' || g else '' end, 'standard', (array['north','south','east','west','central'])[1 + mod(g, 5)], "
            "'zh_CN', 'email', false, now() from generate_series(0, 299) g")
        ids = np.arange(1, orders + 1)
        stage = rng.integers(0, len(STAGES), orders)
        entered = now.timestamp() - rng.uniform(0, 40 * 86400, orders)
        planned = np.floor((now.timestamp() + rng.uniform(-10, 40, orders) * 86400) / 86400).astype(np.int64)
        has_plan = rng.random(orders) < 0.9
        amount = np.round(rng.uniform(100, 200_000, orders), 2)
        customer = rng.integers(1, 301, orders)
        owner = rng.integers(1, 21, orders)
        supplier = rng.integers(0, len(SUPPLIERS), orders)
        category = rng.integers(0, len(CATEGORIES), orders)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        raw = conn.connection.driver_connection
        columns = ("id, number, customer_id, owner_id, amount, currency, stage, status, stage_entered_at, "
                   "planned_delivery, source, data, tags, risk_flags, urge_count, version, created_at, updated_at, "
                   "priority_score, churn_signals")
        with raw.cursor() as cur, cur.copy(f"COPY sales_order ({columns}) FROM STDIN") as copy:
            step = 100_000
            for start in range(0, orders, step):
                lines = []
                for i in range(start, min(orders, start + step)):
                    at = (epoch + timedelta(seconds=float(entered[i]))).isoformat()
                    plan = (epoch + timedelta(days=int(planned[i]))).date().isoformat() if has_plan[i] else "\\N"
                    data = json.dumps({"supplier": SUPPLIERS[supplier[i]], "category": CATEGORIES[category[i]]})
                    lines.append(f"{ids[i]}\tS{ids[i]}\t{customer[i]}\t{owner[i]}\t{amount[i]:.2f}\tCNY\t"
                                 f"{STAGES[stage[i]]}\topen\t{at}\t{plan}\tbench\t{data}\t[]\t[]\t0\t1\t{at}\t{at}\t0\t0\n")
                copy.write("".join(lines))
        conn.exec_driver_sql("select setval(pg_get_serial_sequence('sales_order', 'id'), %(n)s)", {"n": orders})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("vacuum analyze sales_order")
        conn.exec_driver_sql("analyze")


def _live_model(engine, now) -> int:
    """A LightGBM model of the patterned test history (slow customer and supplier), stored live."""
    import dataclasses

    from backend.db import new_session
    from backend.foresight.models import ForesightModel
    from engine.foresight import train
    from tests.factories.foresight_history import history

    histories = [dataclasses.replace(h, features={**h.features, "supplier": SUPPLIERS[i % 5],
                                                  "region": REGIONS[i % 5], "category": CATEGORIES[i % 4]})
                 for i, h in enumerate(history(2000))]
    model = train(histories, now=now).model
    with new_session(engine) as session:
        row = ForesightModel(kind=model.kind, live=True, model=json.dumps(model.to_json()), report={},
                             closed_orders=len(histories), created_at=now)
        session.add(row)
        session.commit()
        return row.id


def _pg_cpu(engine, name: str) -> dict[int, float]:
    """CPU seconds so far of each client backend connected to database `name` (from /proc)."""
    with engine.connect() as conn:
        pids = conn.exec_driver_sql("select pid from pg_stat_activity where datname = %(n)s and "
                                    "backend_type = 'client backend'", {"n": name}).scalars().all()
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def database_main(args) -> int:
    import sqlalchemy as sa

    from backend.db import make_engine
    from backend.foresight import scoring

    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    url = args.url
    made = _ensure_database(url)
    engine = make_engine(url)
    name = sa.engine.make_url(url).database
    with engine.connect() as conn:
        have = conn.exec_driver_sql("select count(*) from sales_order where status = 'open'").scalar()
        model_id = conn.exec_driver_sql("select max(id) from foresight_model where live").scalar()
    if have != args.orders or model_id is None:
        t0 = time.perf_counter()
        _seed(engine, args.orders, now)
        model_id = _live_model(engine, now)
        print(f"seeded {args.orders:,} open orders by COPY and a live model in {time.perf_counter() - t0:.1f} s"
              f" ({'new database' if made else 'reused database'})")
    else:
        print(f"reusing {name}: {have:,} open orders, live model {model_id}")
        if args.fresh:
            with engine.begin() as conn:
                conn.exec_driver_sql("truncate foresight_score")
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("checkpoint")  # the truncate's and earlier runs' WAL out of the way
            print("  foresight_score emptied (--fresh): the first scoring inserts every row")
    print(f"Scoring job on PostgreSQL — {platform.node()}, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    for label, at in (("first scoring (every row written)", now), ("re-scoring an hour later", now + timedelta(hours=1))):
        scoring.forget_cache()
        load_before = os.getloadavg()
        before = _pg_cpu(engine, name)
        timings: dict[str, float] = {}
        t0, c0 = time.perf_counter(), time.process_time()
        done = scoring.score_all(engine, at, timings=timings)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        after = _pg_cpu(engine, name)
        pg = sum(v - before.get(pid, 0.0) for pid, v in after.items())
        load = os.getloadavg()
        with engine.connect() as conn:
            scored = conn.exec_driver_sql(
                "select count(*), avg(p.delay_probability), count(p.delay_probability) from sales_order o "
                "join foresight_score p on p.order_id = o.id "
                "where o.status = 'open' and p.predicted_stage_done_at is not null").one()
        print(f"  {label}, load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f},"
              f" after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"    scored {done:,} open orders ({scored[0]:,} with a stage end, {scored[2]:,} with a probability,"
              f" mean {float(scored[1] or 0):.3f})")
        print(f"    wall {wall:.1f} s = {done / wall:,.0f} orders/s; process CPU {cpu:.1f} s;"
              f" PostgreSQL CPU {pg:.1f} s ({len(after)} backends)")
        print("    busy seconds per step (overlapping): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    engine.dispose()
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.drop:
        drop_database(url)
        print(f"dropped {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "datasets" / "olist"))
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--database", action="store_true",
                        help="time the app's scoring job (backend/foresight/scoring.py) on PostgreSQL instead")
    parser.add_argument("--url", default=DB_URL, help="the bench database (created, seeded once, reused)")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--fresh", action="store_true",
                        help="reusing the database: empty foresight_score first (the first scoring inserts every row)")
    args = parser.parse_args(argv)
    if args.database:
        return database_main(args)
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
