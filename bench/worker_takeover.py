"""SIGKILL → takeover (issue 15): three plain worker processes on PostgreSQL share the `rules_due`
partitions; one is SIGKILLed, and the time until every partition it held has another holder is
printed; then a second of the two left. Before the liveness lock (branch due3) that was the lease
(3 s after the last renewal) plus up to a heartbeat; now a heartbeat.

    .venv/bin/python bench/worker_takeover.py [--kills 2] [--db-prefix bench]
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import select  # noqa: E402

from backend.clock import utcnow  # noqa: E402
from backend.db import make_engine  # noqa: E402
from backend.pipeline_assembly import assemble  # noqa: E402
from backend.worker import partitions  # noqa: E402
from backend.worker.partitions import WorkerPartition  # noqa: E402
from tests.factories import workers as wf  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--kills", type=int, default=2)
parser.add_argument("--db-prefix", default="bench")
args = parser.parse_args()
url = wf.fresh_database(f"{args.db_prefix}_takeover_{os.getpid()}")
engine = assemble(make_engine(url))
procs = []
try:
    wf.seed_approvals(engine, [], utcnow())
    procs = [wf.start_worker(url) for _ in range(3)]
    outs = [wf.Lines(p) for p in procs]
    for o in outs:
        o.wait_for(lambda line: line == "STARTED", 600)

    def live():
        ws, _ = partitions.status(engine)
        return {w.pid: w.partitions.get("rules_due", []) for w in ws if w.live}
    until = time.monotonic() + 300
    while time.monotonic() < until:
        got = live()
        if set(got) == {p.pid for p in procs} and all(got.values()) and sum(map(len, got.values())) == 16:
            break
        time.sleep(0.2)
    for _ in range(args.kills):
        victim = procs[0]
        mine = live()[victim.pid]
        with engine.connect() as c:
            holder = c.execute(select(WorkerPartition.holder).where(
                WorkerPartition.job == "rules_due", WorkerPartition.partition == mine[0])).scalar()
        t0 = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        while True:
            with engine.connect() as c:
                rows = c.execute(select(WorkerPartition.partition, WorkerPartition.holder).where(
                    WorkerPartition.job == "rules_due", WorkerPartition.partition.in_(mine))).all()
            if all(h != holder for _, h in rows):
                break
            time.sleep(0.05)
        print(f"kill → all {len(mine)} partitions taken: {time.monotonic() - t0:.2f} s "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
        procs.pop(0)
        if len(procs) < 2:
            break
finally:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except Exception:  # noqa: BLE001 - it did not stop: kill it
            p.kill()
    engine.dispose()
    wf.drop_database(url)
