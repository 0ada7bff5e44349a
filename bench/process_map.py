"""The process map at scale: N orders' event logs in PostgreSQL, the query + directly-follows graph timed.

    .venv/bin/python -m bench.process_map                    # 100,000 orders (~6 stage changes each)
    .venv/bin/python -m bench.process_map --orders 20000 --reload

Data: bench/orders_list.py's generator (orders over two years, one event per stage reached) in its own
database `gendan_bench_procmap`, plus rework loops (every 10th order past approval is sent back to
draft and approved again) and skipped steps (every 7th order's technical confirmation is missing), so
the map has never-drawn edges. Then `backend.insight.process_map.build` is timed as an admin (every
order; the 50,000-order cap applies) and as a sales team head (a tenth of the orders), each run on a
fresh session. A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

import sqlalchemy as sa

import backend.models  # noqa: F401
from backend.db import make_engine, new_session
from backend.insight import process_map as service
from backend.migrate import upgrade
from bench.orders_list import actor_for, ensure_database, load

DEFAULT_URL = os.environ.get("GENDAN_BENCH_PROCMAP_PG_URL",
                             "postgresql://postgres@127.0.0.1:5432/gendan_bench_procmap")


def add_rework_and_skips(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            insert into order_event (order_id, type, actor_id, at, before, after, note)
            select o.id, 'stage_entered', o.owner_id, o.created_at + d.at, d.before, d.after, 'bench rework'
            from sales_order o
            cross join (values (interval '7 days', '{"stage": "approval"}'::jsonb, '{"stage": "draft"}'::jsonb),
                               (interval '8 days', '{"stage": "draft"}'::jsonb, '{"stage": "approval"}'::jsonb)) d(at, before, after)
            where o.id % 10 = 0 and o.stage not in ('draft', 'approval')
        """))
        conn.execute(sa.text("""
            delete from order_event e using sales_order o
            where e.order_id = o.id and o.id % 7 = 0 and e.after ->> 'stage' = 'tech_confirm'
        """))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE order_event")


def run(engine: sa.Engine, actor, repeat: int, *, cached: bool = False) -> tuple[list[float], service.MapResult]:
    """`repeat` timed builds, each on a fresh session: cold (the cache emptied first) or served from the
    cache (one untimed build fills it)."""
    times, result = [], None
    if cached:
        with new_session(engine) as session:
            service.build(session, actor=actor, filters=service.MapFilter())
    for _ in range(repeat):
        if not cached:
            service.CACHE.clear()
        with new_session(engine) as session:
            t0 = time.perf_counter()
            result = service.build(session, actor=actor, filters=service.MapFilter())
            times.append(time.perf_counter() - t0)
    return times, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)
    ensure_database(args.url, reload=args.reload)
    upgrade(args.url)
    engine = make_engine(args.url, pool_size=2)
    with engine.connect() as conn:
        have = conn.execute(sa.text("select count(*) from sales_order where source = 'bench'")).scalar_one()
    if have != args.orders:
        ensure_database(args.url, reload=True)
        upgrade(args.url)
        engine = make_engine(args.url, pool_size=2)
        print(f"loading {args.orders:,} orders ...", flush=True)
        load(engine, args.orders, max(1000, args.orders // 50))
        add_rework_and_skips(engine)
    with engine.connect() as conn:
        n_events = conn.execute(sa.text("select count(*) from order_event")).scalar_one()
        version = conn.execute(sa.text("show server_version")).scalar_one()
    print(f"\n{args.orders:,} orders, {n_events:,} events; PostgreSQL {version}; {platform.node()} "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    admin, head = actor_for(engine, "bench.admin"), actor_for(engine, "bench.t1.s1")
    for name, actor in (("admin (all orders, capped)", admin), ("sales team head", head)):
        times, r = run(engine, actor, args.repeat)
        loops = sum(e.count for e in r.map.edges if e.kind == "loop")
        skips = sum(e.count for e in r.map.edges if e.kind == "skip")
        print(f"  {name:28s} orders {r.map.orders:>7,}  truncated {r.truncated!s:5s}  edges {len(r.map.edges):>3}  "
              f"loops {loops:>6,}  skips {skips:>6,}  build median {statistics.median(times):6.2f} s  "
              f"max {max(times):6.2f} s", flush=True)
        warm, _ = run(engine, actor, args.repeat, cached=True)
        print(f"  {name:28s} cached (a repeated view)  median {statistics.median(warm):6.3f} s  max {max(warm):6.3f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
