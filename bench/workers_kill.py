"""Horizontal workers under SIGKILL (issue 15): 2 and 3 worker processes on PostgreSQL share the
`rules_due` partitions; each round seeds orders whose due moments fall 8–14 s ahead, one worker is
SIGKILLed inside its first batch that fires anything (firings written, not committed), and the
others take its partitions over. The n - 1 others keep running from round to round (a new worker
joins each round, takes its share, and is the one killed). Per round: every (rule, order, episode) fired exactly once (one
firing and one to-do per order), and the lateness of each due moment (first seen committed by an
observer polling every 0.1 s, minus `rule_due.due_at`, or minus the end of the seeding's commit
for a moment that had already passed by then: the seeding is not the workers' delay).

The reconciliation kill rounds (`--reconcile-rounds`): the workers also run `rules_scan`, every
2 s, with the reconciliation due every RECONCILE_EVERY s; each round moves some orders' stage clock
back behind the pipeline's back (no due moment is written: a missed path only the reconciliation
finds), all in the partitions of a new worker, which is SIGKILLed inside the reconciliation chunk
that fires them (written, not committed). The others take its partitions over and reconcile them:
every missed order fired exactly once (by the reconciliation), the admins told, and the time from
the kill to the last firing.

    .venv/bin/python bench/workers_kill.py [--rounds 20] [--orders 100] [--workers 2 3] [--reconcile-rounds 5]

Prints one line per round and a summary per worker count (target: all exactly once, max ≤ 10 s).
Uses the default lease (`worker_lease_seconds`, 3 s; set GENDAN_WORKER_LEASE_SECONDS to try
another) and 16 partitions.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from backend.clock import utcnow  # noqa: E402
from backend.db import make_engine  # noqa: E402
from backend.pipeline_assembly import assemble  # noqa: E402
from backend.rules.models import RuleDue, RuleFiring  # noqa: E402
from backend.worker import partitions  # noqa: E402
from tests.factories import workers as wf  # noqa: E402

RECONCILE_EVERY = 10  # s: the reconciliation's interval in the reconciliation rounds (hourly by default)
SCAN_ENV = {"GENDAN_RECONCILE_INTERVAL_SECONDS": str(RECONCILE_EVERY), "GENDAN_BENCH_SCAN_SECONDS": "2"}
BOTH = ("rules_due", "rules_scan")
LEAD = 8  # s from the round's start to its first due moment (seeding 100 orders takes seconds under load)


def _wait(predicate, timeout: float, what: str):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if got := predicate():
            return got
        time.sleep(0.1)
    raise RuntimeError(f"not within {timeout} s: {what}")


class CpuMeter:
    """CPU seconds of the worker processes and of the PostgreSQL backends serving the bench's
    database, read from /proc every 0.2 s by a thread; a process's last reading counts after it is
    gone (a SIGKILLed worker, its closed backend), so `total()` is what they used since the start."""

    def __init__(self, engine) -> None:
        self.engine, self.pids, self.seen = engine, set(), {"worker": {}, "db": {}}
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _read(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            backends = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND pid <> pg_backend_pid()")).scalars().all()
        for kind, pids in (("worker", list(self.pids)), ("db", backends)):
            for pid in pids:
                if (cpu := self._cpu(pid)) is not None:
                    self.seen[kind][pid] = cpu

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._read()
            except Exception:  # noqa: BLE001 - a bench sampler: the next reading will do
                pass
            time.sleep(0.2)

    def total(self) -> tuple[float, float]:
        """(worker processes' CPU, database backends' CPU) so far, in seconds."""
        return sum(self.seen["worker"].values()), sum(self.seen["db"].values())


METER: CpuMeter | None = None


def _live(engine, job: str = "rules_due") -> dict[int, list[int]]:
    workers, _ = partitions.status(engine)
    return {w.pid: w.partitions.get(job, []) for w in workers if w.live}


def one_round(engine, url: str, survivors: list, n: int, orders: int) -> dict:
    """One round: the n - 1 running workers (started when missing, kept across rounds to spare the
    machine their start-up) and a new worker that will be SIGKILLed mid-batch."""
    while len(survivors) < n - 1:
        proc = wf.start_worker(url)
        survivors.append((proc, wf.Lines(proc)))
    victim = wf.start_worker(url, stall=True)
    procs = [victim] + [p for p, _ in survivors]
    METER.pids.update(p.pid for p in procs)
    outs = [wf.Lines(victim)] + [o for _, o in survivors]
    try:
        outs[0].wait_for(lambda line: line == "STARTED", 180)

        def settled():
            live = _live(engine)
            return set(live) == {p.pid for p in procs} and all(live.values()) and \
                sum(map(len, live.values())) == 16

        _wait(settled, 120, f"{n} workers sharing the partitions")
        shares = sorted(len(v) for v in _live(engine).values())
        time.sleep(0.5)
        cpu0 = METER.total()
        now = utcnow()
        entered = [now + timedelta(seconds=LEAD + 6 * i / orders) - timedelta(hours=24, seconds=1)
                   for i in range(orders)]
        ids = wf.seed_approvals(engine, entered, now)
        ready = utcnow()  # the moments are in the index from here on
        with engine.connect() as conn:
            due = dict(conn.execute(select(RuleDue.order_id, RuleDue.due_at).where(RuleDue.order_id.in_(ids))).all())
        seen: dict[int, object] = {}
        stop = threading.Event()

        def observe():
            while not stop.is_set() and len(seen) < len(ids):
                with engine.connect() as conn:
                    got = conn.execute(select(RuleFiring.order_id).where(RuleFiring.order_id.in_(ids))).scalars().all()
                at = utcnow()
                for o in got:
                    seen.setdefault(o, at)
                time.sleep(0.1)

        watcher = threading.Thread(target=observe, daemon=True)
        watcher.start()
        outs[0].wait_for(lambda line: line.startswith("MID-BATCH"), 120)
        killed_at = utcnow()
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(60)
        try:
            _wait(lambda: len(seen) == len(ids), 120, "every order fired")
        finally:
            stop.set()
            watcher.join(10)
        time.sleep(1.0)  # let a duplicate, if any, commit before counting
        time.sleep(0.3)
        cpu1 = METER.total()
        counts = wf.firings_per_order(engine, ids)
        with engine.connect() as conn:
            left = conn.execute(select(RuleDue.order_id).where(RuleDue.order_id.in_(ids))).all()
        lateness = [(seen[o] - max(due[o], ready)).total_seconds() for o in ids if o in due]
        return {"shares": shares, "once": sum(1 for c in counts.values() if c == (1, 1)), "orders": len(ids),
                "all": lateness,
                "twice": sum(1 for c in counts.values() if c[0] > 1 or c[1] > 1), "left": len(left),
                "max": max(lateness), "p50": statistics.median(lateness),
                "p99": sorted(lateness)[int(0.99 * (len(lateness) - 1))],
                "kill_to_last": (max(seen.values()) - killed_at).total_seconds(),
                "seeded_late": sum(1 for o in ids if due.get(o, ready) < ready),
                "worker_cpu": cpu1[0] - cpu0[0], "db_cpu": cpu1[1] - cpu0[1], "load": os.getloadavg()[0]}
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.wait(60)


def reconcile_round(engine, url: str, survivors: list, n: int, orders: int) -> dict:
    """One reconciliation round: a new worker (the victim) holds its share of the scan's partitions;
    orders of those partitions are moved behind the pipeline's back; the victim is killed inside
    the reconciliation chunk that fires them; the others take over and fire them."""
    from sqlalchemy import func, update

    from backend.notify.models import Notification
    from backend.orders.models import Order

    while len(survivors) < n - 1:
        proc = wf.start_worker(url, jobs=BOTH, env=SCAN_ENV)
        survivors.append((proc, wf.Lines(proc)))
    victim = wf.start_worker(url, stall="reconcile", jobs=BOTH, env=SCAN_ENV)
    procs = [victim] + [p for p, _ in survivors]
    out = wf.Lines(victim)
    try:
        out.wait_for(lambda line: line == "STARTED", 180)

        def settled():
            live = _live(engine, "rules_scan")
            return set(live) == {p.pid for p in procs} and all(live.values()) and \
                sum(map(len, live.values())) == 16 and live

        live = _wait(settled, 120, f"{n} workers sharing the scan's partitions")
        shares = sorted(len(v) for v in live.values())
        mine = set(live[victim.pid])
        now = utcnow()
        ids = wf.seed_approvals(engine, [now] * orders, now)  # due in 24 h: nothing for the index now
        missed = [o for o in ids if o % 16 in mine]
        with engine.connect() as conn:
            told_before = conn.execute(select(func.count()).select_from(Notification).where(
                Notification.dedupe_key.like("rule_due_missed:%"))).scalar_one()
            conn.execute(update(Order).where(Order.id.in_(missed))
                         .values(stage_entered_at=now - timedelta(hours=25)))  # behind the pipeline's back
            conn.commit()
        moved = utcnow()
        out.wait_for(lambda line: line.startswith("MID-RECONCILE"), 120)
        killed_at = utcnow()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(60)

        def all_fired():
            with engine.connect() as conn:
                got = conn.execute(select(RuleFiring.order_id, RuleFiring.trigger)
                                   .where(RuleFiring.order_id.in_(missed))).all()
            return got if len({o for o, _ in got}) == len(missed) else None

        got = _wait(all_fired, 120, "every missed order fired")
        fired_at = utcnow()
        time.sleep(1.0)  # let a duplicate, if any, commit before counting
        counts = wf.firings_per_order(engine, missed)
        with engine.connect() as conn:
            told = conn.execute(select(func.count()).select_from(Notification).where(
                Notification.dedupe_key.like("rule_due_missed:%"))).scalar_one() - told_before
        return {"shares": shares, "missed": len(missed), "once": sum(1 for c in counts.values() if c == (1, 1)),
                "twice": sum(1 for c in counts.values() if c[0] > 1 or c[1] > 1),
                "by_reconcile": sum(1 for _, t in got if t == "reconcile"), "told": told,
                "kill_to_fired": (fired_at - killed_at).total_seconds(),
                "moved_to_kill": (killed_at - moved).total_seconds()}
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.wait(60)


def _p99(results) -> float:
    every = sorted(x for r in results for x in r["all"])
    return every[int(0.99 * (len(every) - 1))]


def stop_all(survivors: list) -> None:
    for p, _ in survivors:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p, _ in survivors:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(30)
    survivors.clear()


def rounds(play, engine, url, workers: int, orders: int, count: int):
    """(index, result) of `count` rounds of `play` with `workers` processes; the surviving workers
    are carried from round to round and stopped at the end, or when a round fails."""
    survivors: list = []
    try:
        for r in range(count):
            yield r, play(engine, url, survivors, workers, orders)
    finally:
        stop_all(survivors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--reconcile-rounds", type=int, default=5)
    parser.add_argument("--db-prefix", default="bench", help="the bench database is <prefix>_workers_kill_<pid>")
    args = parser.parse_args()
    url = wf.fresh_database(f"{args.db_prefix}_workers_kill_{os.getpid()}")
    engine = assemble(make_engine(url))
    global METER
    METER = CpuMeter(engine)
    try:
        wf.seed_approvals(engine, [], utcnow())  # the rule, enabled
        print(f"load average at start: {os.getloadavg()}", flush=True)
        for n in args.workers if args.rounds else ():
            results = []
            for r, res in rounds(one_round, engine, url, n, args.orders, args.rounds):
                results.append(res)
                print(f"{n} workers round {r + 1:2d}: shares {res['shares']}, exactly once {res['once']}/{res['orders']}, "
                      f"twice {res['twice']}, left {res['left']}, lateness p50 {res['p50']:.2f} s "
                      f"p99 {res['p99']:.2f} s max {res['max']:.2f} s, kill → last firing {res['kill_to_last']:.2f} s, "
                      f"moments already past when seeded {res['seeded_late']}, CPU workers {res['worker_cpu']:.2f} s "
                      f"+ PostgreSQL {res['db_cpu']:.2f} s, load {res['load']:.1f}",
                      flush=True)
            lat_max = max(r["max"] for r in results)
            all_once = sum(1 for r in results if r["once"] == r["orders"] and r["left"] == 0)
            print(f"== {n} workers, {len(results)} rounds: {all_once}/{len(results)} rounds with every order fired "
                  f"exactly once ({sum(r['once'] for r in results)}/{sum(r['orders'] for r in results)} orders, "
                  f"{sum(r['twice'] for r in results)} twice); lateness max {lat_max:.2f} s (target ≤ 10 s), "
                  f"rounds' p99 median {statistics.median(r['p99'] for r in results):.2f} s, "
                  f"p50 median {statistics.median(r['p50'] for r in results):.2f} s; "
                  f"lateness p99 over all orders {_p99(results):.2f} s; CPU per round median workers "
                  f"{statistics.median(r['worker_cpu'] for r in results):.2f} s + PostgreSQL "
                  f"{statistics.median(r['db_cpu'] for r in results):.2f} s; "
                  f"load average now {os.getloadavg()}", flush=True)
        for n in args.workers if args.reconcile_rounds else ():
            results = []
            for r, res in rounds(reconcile_round, engine, url, n, args.orders, args.reconcile_rounds):
                results.append(res)
                print(f"{n} workers reconciliation round {r + 1:2d}: shares {res['shares']}, missed orders "
                      f"{res['missed']}, exactly once {res['once']}, twice {res['twice']}, fired by the "
                      f"reconciliation {res['by_reconcile']}, admin notifications {res['told']}, moved → kill "
                      f"{res['moved_to_kill']:.2f} s, kill → all fired {res['kill_to_fired']:.2f} s", flush=True)
            print(f"== {n} workers, {len(results)} reconciliation kill rounds: "
                  f"{sum(1 for r in results if r['once'] == r['missed'] and r['by_reconcile'] == r['missed'])}"
                  f"/{len(results)} rounds with every missed order fired exactly once by the reconciliation "
                  f"({sum(r['once'] for r in results)}/{sum(r['missed'] for r in results)} orders, "
                  f"{sum(r['twice'] for r in results)} twice), admins told in "
                  f"{sum(1 for r in results if r['told'])} rounds; kill → all fired max "
                  f"{max(r['kill_to_fired'] for r in results):.2f} s, median "
                  f"{statistics.median(r['kill_to_fired'] for r in results):.2f} s; "
                  f"load average now {os.getloadavg()}", flush=True)
    finally:
        engine.dispose()
        wf.drop_database(url)


if __name__ == "__main__":
    main()
