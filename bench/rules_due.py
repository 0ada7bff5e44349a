"""Benchmark: the due-time index (backend/rules/due_index.py) against today's one-pass scan.

On PostgreSQL, N open orders (bench/rules_scan.py's orders) and 100 enabled time rules, all of them
indexable (stage + hours / working hours in stage, days until payment due, days since created):

1. build: each rule's moments computed set-based, as the enabling job does (`due_index.build_rule`:
   SQL on PostgreSQL, Python for working hours);
   steady state is then seeded the way the worker would have left it (what is due now has fired:
   a state per match, no row), plus the scan's and the reconciliation's match words.
2. today's full scan: `tasks.scan_time_rules` over the same 100 rules in steady state (wall and CPU).
3. live: 1,000 orders are moved (an order change: `recompute_orders`, timed per order) so their
   moments fall 60-110 s into the run, one every 50 ms; the worker's own loop (`runner.run_forever`
   with the jobs `rules_due` woken by its DueWake (LISTEN/NOTIFY, sleeping until the next moment),
   `rules_due_build` every 5 s and `rules_scan` = `check_time_rules` every 60 s) runs in a thread;
   another thread polls the committed to-dos every 100 ms. Delay = first seen - due moment.
4. steady state: the same worker loop for 60 s with nothing due: the process's CPU and the CPU of
   the PostgreSQL backends serving the database (read from /proc), against one minute of the old
   worker (the full scan of the 100 rules) and, separately, one reconciliation pass.
5. burst: 10,000 orders crossing one threshold at the same second, fired by `fire_due` (timed),
   checked exactly once.

Usage: .venv/bin/python bench/rules_due.py [--orders 200000] [--live 1000] [--burst 10000] [--reuse]
The cost curve: --live 0 --burst 0 (steady state, old scan and reconciliation only).
PostgreSQL runs with max_parallel_workers_per_gather = 0 here, so all of a query's CPU is in the
backend whose /proc is read.
Database: GENDAN_BENCH_PG_URL, default postgres@127.0.0.1/dueindex_bench (created when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("GENDAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/dueindex_bench")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rules_scan as data  # noqa: E402  (the same orders)
from sqlalchemy import delete, func, insert, select, text, update  # noqa: E402
from sqlmodel import Session  # noqa: E402

from backend.clock import utcnow  # noqa: E402
from backend.db import make_engine, new_session  # noqa: E402
from backend.inbox.models import InboxItem  # noqa: E402
from backend.orders.models import Order  # noqa: E402
from backend.pipeline_assembly import assemble  # noqa: E402
from backend.rules import due_build, due_index, scan, tasks  # noqa: E402
from backend.rules.context import catalogue_for, fact_context  # noqa: E402
from backend.rules.due_wake import DueWake  # noqa: E402
from backend.rules.models import (  # noqa: E402
    RuleDefinitionRow,
    RuleDue,
    RuleFiring,
    RuleOrderMask,
    RuleOrderState,
    RuleReconcileMask,
)
from backend.worker import runner  # noqa: E402
from engine.rules.definition import RuleDefinition  # noqa: E402

STAGES = data.STAGES


def conditions() -> list[dict]:
    out = []
    for i in range(98):
        stage = STAGES[i % 8]
        kind = i % 4
        if kind == 0:
            term = {">": [{"var": "hours_in_stage"}, 12 + i]}
        elif kind == 1:
            term = {">": [{"var": "working_hours_in_stage"}, 8 + i % 40]}
        elif kind == 2:
            term = {"<=": [{"var": "days_until_payment_due"}, i % 7]}
        else:
            term = {">=": [{"var": "days_since_created"}, 30 + i % 60]}
        out.append({"and": [{"==": [{"var": "stage"}, stage]}, term]})
    for stage in ("bench_live", "bench_burst"):
        out.append({"and": [{"==": [{"var": "stage"}, stage]}, {">": [{"var": "hours_in_stage"}, 24]}]})
    return out


def definitions() -> list[dict]:
    out = []
    for i, logic in enumerate(conditions()):
        rule = RuleDefinition(key=f"due_{i:03d}", status="published", enabled=True, name={"en": f"Due {i}"},
                              trigger={"kind": "time"}, condition=logic,
                              actions=({"type": "create_todo", "assignee": {"kind": "owner"},
                                        "title_template": {"en": "Due {{ order.number }}"}},))
        out.append(rule.model_dump(mode="json"))
    return out


def seed(engine, now, *, sql_only: bool = False) -> dict:
    """Rules, their moments (timed), and the steady state the worker would have left."""
    out: dict = {}
    with Session(engine) as session:
        session.execute(text("TRUNCATE rule_firing, rule_order_state, rule_order_mask, rule_reconcile_mask, "
                             "rule_due, rule_definition RESTART IDENTITY"))
        session.execute(text("DELETE FROM inbox_item WHERE source = 'rule'"))
        session.execute(text("UPDATE sales_order SET stage = 'production' WHERE stage LIKE 'bench_%'"))
        for definition in definitions():
            session.add(RuleDefinitionRow(key=definition["key"], version=1, status="published", definition=definition,
                                          enabled=True, is_time_rule=True, created_at=now, updated_at=now))
        session.commit()
    started = time.perf_counter()
    by_kind: dict[str, float] = {}
    with new_session(engine) as session:
        rows = list(session.exec(select(RuleDefinitionRow).order_by(RuleDefinitionRow.id)).scalars())
        session.expunge_all()
    for row in rows:  # one transaction per rule, as the enabling job commits per chunk
        kind = "python_working_hours" if "working_hours" in json.dumps(row.definition) else "sql"
        if sql_only and kind != "sql":
            continue
        began = time.perf_counter()
        with new_session(engine) as session:
            due_index.build_rule(session, session.merge(row), now, skip_matching=sql_only)
            session.commit()
        by_kind[kind] = by_kind.get(kind, 0.0) + time.perf_counter() - began
    out["build_100_rules_s"] = round(time.perf_counter() - started, 1)
    out["build_s_by_path"] = {k: round(v, 1) for k, v in by_kind.items()}
    with new_session(engine) as session:
        out["due_rows_built"] = session.execute(select(func.count()).select_from(RuleDue)).scalar_one()
        # steady state: what was due has fired (a state per match) and left the index
        session.execute(text("""
            INSERT INTO rule_order_state (rule_key, order_id, episode, active, last_fired_at, fired_count)
            SELECT r.key, d.order_id, 1, true, :now, 1 FROM rule_due d JOIN rule_definition r ON r.id = d.rule_id
            WHERE d.due_at <= :now"""), {"now": now})
        session.execute(delete(RuleDue).where(RuleDue.due_at <= now))
        out["due_rows_future"] = session.execute(select(func.count()).select_from(RuleDue)).scalar_one()
        out["states_seeded"] = session.execute(select(func.count()).select_from(RuleOrderState)).scalar_one()
        session.commit()
    for indexed, mask in ((None, RuleOrderMask), (True, RuleReconcileMask)):  # both passes' words, as left
        with new_session(engine) as session:
            rows = scan.assign_slots(session, indexed=indexed)
            plan = scan.build_plan(rows, catalogue_for(session), fact_context(now), mask=mask.__table__)
            words = scan.changed_orders_query(plan).subquery()
            session.execute(text("SET LOCAL jit = off"))
            session.execute(insert(mask.__table__).from_select(["order_id", "words"], select(words.c[0], words.c[1])))
            session.execute(update(RuleDefinitionRow).values(scan_ready=True, last_scan_at=now))
            session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("rule_due", "rule_order_state", "rule_order_mask", "rule_reconcile_mask"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return out


def full_scan(engine, now) -> dict:
    """Today's worker: the one-pass scan over the 100 rules in steady state, wall and CPU."""
    with new_session(engine) as session:  # the rules' own words, not the reconciliation's
        session.execute(update(RuleDefinitionRow).values(last_scan_at=now - timedelta(minutes=1)))
        session.commit()
    cpu, wall, db = time.process_time(), time.perf_counter(), backend_cpu(engine)
    fired = tasks.scan_time_rules(engine, now)
    return {"full_scan_s": round(time.perf_counter() - wall, 2), "full_scan_cpu_s": round(time.process_time() - cpu, 2),
            "full_scan_db_cpu_s": round(backend_cpu(engine) - db, 2), "full_scan_firings": fired}


def reconciliation(engine, now) -> dict:
    """One reconciliation pass over the 100 indexed rules (hourly in steady state)."""
    with new_session(engine) as session:
        session.execute(update(RuleDefinitionRow).values(scan_ready=True, last_scan_at=now - timedelta(hours=2)))
        session.commit()
    cpu, wall, db = time.process_time(), time.perf_counter(), backend_cpu(engine)
    fired = tasks.reconcile(engine, now)
    return {"reconcile_s": round(time.perf_counter() - wall, 2), "reconcile_cpu_s": round(time.process_time() - cpu, 2),
            "reconcile_db_cpu_s": round(backend_cpu(engine) - db, 2), "reconcile_firings": fired}


def backend_cpu(engine) -> float:
    """CPU seconds used so far by the PostgreSQL processes serving this database (from /proc)."""
    with engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars().all()
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def worker_jobs(metered: bool = True):
    wake = DueWake()
    jobs = [runner.Job("rules_due", wake.run, 1, wake=wake), runner.Job("rules_due_build", due_build.job, 5),
            runner.Job("rules_scan", tasks.check_time_rules, 60)]
    return Metered(jobs) if metered else jobs, wake


def steady(engine, seconds: float = 60) -> dict:
    """The worker's loop for a minute with nothing due: its process CPU and the database's."""
    metered, wake = worker_jobs()
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(engine, metered.jobs, stop, 1.0), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not wake.listening.is_set() and time.monotonic() < deadline:  # started, listening
        time.sleep(0.05)
    time.sleep(2)
    metered.wall = metered.cpu = 0.0
    metered.runs = 0
    cpu, wall, db = time.process_time(), time.perf_counter(), backend_cpu(engine)
    time.sleep(seconds)
    out = {"steady_s": round(time.perf_counter() - wall, 1), "steady_process_cpu_s": round(time.process_time() - cpu, 3),
           "steady_db_cpu_s": round(backend_cpu(engine) - db, 3), "steady_jobs_runs": metered.runs,
           "steady_jobs_wall_s": round(metered.wall, 3), "steady_jobs_cpu_s": round(metered.cpu, 3)}
    stop.set()
    thread.join(30)
    return out


class Metered:
    """The worker's jobs with their wall and thread CPU time added up."""

    def __init__(self, jobs):
        self.wall = self.cpu = 0.0
        self.runs = 0
        self.jobs = [runner.Job(j.name, self._wrap(j.run), j.every_seconds, j.wake) for j in jobs]

    def _wrap(self, run):
        def job(engine, now):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return run(engine, now)
            finally:
                self.wall += time.perf_counter() - wall
                self.cpu += time.thread_time() - cpu
                self.runs += 1
        return job


def forget(engine, ids) -> None:
    """An earlier run's firings and to-dos on these orders (so --reuse measures only its own)."""
    with Session(engine) as session:
        session.execute(delete(InboxItem).where(InboxItem.source == "rule", InboxItem.order_id.in_(ids)))
        session.execute(delete(RuleFiring).where(RuleFiring.order_id.in_(ids)))
        session.commit()


def move(engine, ids, stage, entered_of, *, one_at_a_time: bool = True) -> float:
    """The order change: stage and stage entry written, then that order's moments (timed), one
    order change at a time (the pipeline stage) or a thousand at once (its batched form)."""
    spent = 0.0
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        with new_session(engine) as session:
            for order in session.exec(select(Order).where(Order.id.in_(chunk))).scalars():
                order.stage, order.stage_entered_at = stage, entered_of(order.id)
            session.flush()
            orders = list(session.exec(select(Order).where(Order.id.in_(chunk))).scalars())
            begun = time.perf_counter()
            if one_at_a_time:
                for order in orders:
                    due_index.recompute_orders(session, [order], utcnow())
            else:
                due_index.recompute_orders(session, orders, utcnow())
            spent += time.perf_counter() - begun
            session.commit()
    return spent / len(ids)


def live(engine, count: int) -> dict:
    # what one order change costs, one at a time (200 other orders entering tech_confirm)
    per_change = move(engine, list(range(count + 20_001, count + 20_201)), "tech_confirm",
                      lambda i: utcnow() - timedelta(hours=1))
    ids = list(range(1, count + 1))
    forget(engine, ids)
    # the worker first, listening, so the moves' notifications are what it hears
    stop = threading.Event()
    metered, wake = worker_jobs()
    thread = threading.Thread(target=runner.run_forever, args=(engine, metered.jobs, stop, 1.0), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not wake.listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = utcnow() + timedelta(seconds=60)  # the batched move below (~20 s under load) commits before the first moment
    due = {i: t0 + timedelta(milliseconds=50 * k) for k, i in enumerate(ids)}
    move(engine, ids, "bench_live", lambda i: due[i] - timedelta(hours=24, seconds=1), one_at_a_time=False)
    with Session(engine) as session:
        moments = dict(session.execute(select(RuleDue.order_id, RuleDue.due_at).where(RuleDue.order_id.in_(ids),
                       RuleDue.rule_id == 99)).all())
    assert len(moments) == count, len(moments)
    seen: dict[int, float] = {}
    deadline = time.monotonic() + 200
    while len(seen) < count and time.monotonic() < deadline:
        with Session(engine) as session:
            got = session.execute(select(InboxItem.order_id).where(
                InboxItem.source == "rule", InboxItem.kind == "rule_alert", InboxItem.order_id.in_(ids),
                InboxItem.order_id.not_in(list(seen) or [0]))).scalars().all()
        at = utcnow()
        for order_id in got:
            seen[order_id] = (at - moments[order_id]).total_seconds()
        time.sleep(0.1)
    run_wall, run_cpu, runs = metered.wall, metered.cpu, metered.runs
    stop.set()
    thread.join(30)
    delays = sorted(seen.values())
    q = statistics.quantiles(delays, n=100) if len(delays) > 1 else delays * 99
    return {"live_orders": count, "live_fired": len(seen), "recompute_per_order_change_ms": round(per_change * 1000, 2),
            "delay_p50_s": round(q[49], 2), "delay_p99_s": round(q[98], 2), "delay_max_s": round(delays[-1], 2),
            "live_jobs_wall_s": round(run_wall, 2), "live_jobs_cpu_s": round(run_cpu, 2), "live_jobs_runs": runs,
            "live_wakeups_heard": wake.wakeups}


def burst(engine, count: int, offset: int) -> dict:
    ids = list(range(offset + 1, offset + count + 1))
    forget(engine, ids)
    moment = (utcnow() + timedelta(minutes=10)).replace(microsecond=0)
    per_order = move(engine, ids, "bench_burst", lambda i: moment - timedelta(hours=24, seconds=1), one_at_a_time=False)
    started = time.perf_counter()
    fired = due_index.fire_due(engine, moment)
    took = time.perf_counter() - started
    with Session(engine) as session:
        firings, distinct = session.execute(select(func.count(), func.count(RuleFiring.order_id.distinct())).where(
            RuleFiring.rule_key == "due_099")).one()
        todos = session.execute(select(func.count()).select_from(InboxItem).where(
            InboxItem.source == "rule", InboxItem.order_id.in_(ids))).scalar_one()
    again = due_index.fire_due(engine, moment + timedelta(minutes=1))
    return {"burst_orders": count, "burst_recompute_batched_ms_per_order": round(per_order * 1000, 2), "burst_fired": fired, "burst_s": round(took, 2),
            "burst_firings_per_s": round(fired / took), "burst_firings_rows": firings, "burst_distinct_orders": distinct,
            "burst_todos": todos, "burst_fired_again": again}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--live", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="keep the index and steady state of an earlier run")
    parser.add_argument("--index-sql-only", action="store_true",
                        help="index only the rules built in SQL, future moments only (the 3 M cost curve: the "
                             "working-hours rules' Python build would take an hour there)")
    args = parser.parse_args()
    data.prepare(args.orders).dispose()
    engine = assemble(make_engine(data.URL, connect_args={"options": "-c max_parallel_workers_per_gather=0"}))
    now = utcnow()
    results: dict = {"orders": args.orders, "rules": 100, "started": now.isoformat(timespec="seconds"),
                     "load_before": os.getloadavg()}
    if not args.reuse:
        results.update(seed(engine, now, sql_only=args.index_sql_only))
        print(json.dumps(results), flush=True)
    results.update(steady(engine))
    results["load_steady"] = os.getloadavg()
    print(json.dumps(results), flush=True)
    results.update(full_scan(engine, utcnow()))
    print(json.dumps(results), flush=True)
    results.update(reconciliation(engine, utcnow()))
    print(json.dumps(results), flush=True)
    if args.live:
        results.update(live(engine, args.live))
        results["load_live"] = os.getloadavg()
        print(json.dumps(results), flush=True)
    if args.burst:
        results.update(burst(engine, args.burst, args.live))
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
