"""Benchmark: what-if replays run as worker jobs (backend/replay/runs.py), issue 14.

Seeds as bench/whatif_replay.py (10,000 orders x 20 rules, each with a changed draft) or, with
`--flow`, as bench/flow_whatif_seed.py (10,000 orders that ran a flow); then times the request
(`runs.ask`: validate, size the window, queue the run) and the worker (`runs.claim` +
`runs.execute`: read, replay both versions with progress writes, store the bounded result):
wall, process CPU (with the second process's: whatif3 replays the published versions in a second
process, started by exec since mendsa), PostgreSQL's CPU for this database, progress writes, result size, /proc/loadavg before and after.

Usage: .venv/bin/python -m bench.whatif_worker --url postgresql://postgres@127.0.0.1/whatif2_bench [--flow]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

import backend.models  # noqa: F401  (every table, for foreign keys)
from backend.auth.actor import Actor
from backend.db import make_engine
from backend.migrate import upgrade
from backend.people.models import UserRole
from backend.replay import runs
from backend.replay.models import WhatIfRun
from bench.whatif_replay import NOW, seed


def cpu_times() -> tuple[float, float]:
    """(this process's CPU seconds, its waited-for children's)."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def db_cpu(engine) -> float | None:
    """CPU seconds used so far by the PostgreSQL processes serving this database (from /proc)."""
    if engine.dialect.name != "postgresql":
        return None
    from bench.rules_due import backend_cpu
    return backend_cpu(engine)


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=f"sqlite:///{tempfile.mkdtemp()}/whatif_worker.db")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--flow", action="store_true")
    args = parser.parse_args()
    upgrade(args.url)
    engine = make_engine(args.url)
    started = time.perf_counter()
    if args.flow:
        from bench.flow_whatif_seed import KEY, seed_flow
        who, _events = seed_flow(engine, args.orders, NOW)
        actor = Actor(user_id=who["user_id"], username=who["username"], display_name="Bench",
                      roles=frozenset({"admin", "designer"}))
        kind, key = "flow", KEY
    else:
        actor, _events = seed(engine, args.orders)
        kind, key = "rule_set", ""
    seeded = time.perf_counter() - started
    with Session(engine) as session:  # the worker replays as the person who asked: their roles are read
        held = set(session.exec(select(UserRole.role).where(UserRole.user_id == actor.user_id)).scalars())
        session.add_all([UserRole(user_id=actor.user_id, role=r) for r in ("admin", "designer") if r not in held])
        session.commit()

    load_before = loadavg()
    with Session(engine) as session:
        asked = time.perf_counter()
        result, run = runs.ask(session, actor=actor, kind=kind, key=key, weeks=4, now=NOW)
        asked = time.perf_counter() - asked
    assert result is None and run is not None, "the window should be queued"
    writes = []
    original = runs._held

    def counting(session, run_id, token, **values):
        writes.append(values.get("progress_done"))
        return original(session, run_id, token, **values)

    runs._held = counting
    wall, (cpu, child_cpu), pg = time.perf_counter(), cpu_times(), db_cpu(engine)
    run_id, token = runs.claim(engine, NOW + timedelta(seconds=1))
    state = runs.execute(engine, run_id, token, NOW)
    (cpu_after, child_after), pg_after = cpu_times(), db_cpu(engine)
    wall, cpu, child_cpu = time.perf_counter() - wall, cpu_after - cpu, child_after - child_cpu
    runs._held = original
    with Session(engine) as session:
        row = session.get(WhatIfRun, run_id)
        size = len(json.dumps(row.result or {}))
        inner = row.result or {}
    print(json.dumps({
        "database": engine.dialect.name, "kind": kind, "orders": inner.get("orders"), "runs": inner.get("runs"),
        "state": state, "truncated": inner.get("truncated"), "seed_s": round(seeded, 1),
        "request_s": round(asked, 3), "worker_wall_s": round(wall, 2), "worker_cpu_s": round(cpu + child_cpu, 2),
        "worker_cpu_main_s": round(cpu, 2), "worker_cpu_child_s": round(child_cpu, 2),
        "postgres_cpu_s": round(pg_after - pg, 2) if pg is not None else None,
        "replay_seconds_in_result": inner.get("seconds"), "load_seconds": inner.get("load_seconds"),
        "progress_writes": len(writes) - 1, "progress_total": row.progress_total, "result_bytes": size,
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }, indent=2))


if __name__ == "__main__":
    main()
