"""The due-time index with several workers: two `rules_due` workers at once fire every (rule, order,
episode) exactly once on PostgreSQL (FOR UPDATE SKIP LOCKED) and SQLite; a worker SIGKILLed mid-batch
loses only its open transaction and the next run fires the rest, each once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from backend.db import make_engine
from backend.pipeline_assembly import assemble
from backend.rules import due_index
from backend.rules.models import RuleDue
from tests.backend.rules import test_worker as worker
from tests.conftest import PG_URL, _pg_available
from tests.factories import workers


def _fresh(kind: str, tmp_path) -> str:
    if kind == "postgresql" and not _pg_available():
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    return workers.fresh_database(f"dueindex_workers_{os.getpid()}", kind, tmp_path)


def _left(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(RuleDue)).scalar_one()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_workers_fire_each_due_moment_once(kind, tmp_path, monkeypatch):
    monkeypatch.setattr(due_index, "BATCH", 15)
    url = _fresh(kind, tmp_path)
    engine = assemble(make_engine(url))
    try:
        worker._seed(engine)  # 120 orders due at NOW (enabled "also the orders matching now"), 10 later
        assert _left(engine) == worker.ORDERS + 10
        barrier, errors, fired = threading.Barrier(2), [], []

        def run():
            barrier.wait()
            try:
                for _ in range(5):
                    try:
                        fired.append(due_index.fire_due(engine, worker.NOW, limit=15))
                        return
                    except sa.exc.OperationalError:  # SQLite: the other writer held the lock too long
                        continue
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        fired.append(due_index.fire_due(engine, worker.NOW))  # whatever a loser left
        assert sum(fired) == worker.ORDERS
        worker._assert_exactly_once(engine)
        assert _left(engine) == 10  # the ten not yet due keep their moments
    finally:
        engine.dispose()
        workers.drop_database(url)


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from backend.db import make_engine
    from backend.pipeline_assembly import assemble
    from backend.rules import due_index
    real_fire = due_index.fire_many
    count = 0
    def slow_fire(*args, **kwargs):
        global count
        result = real_fire(*args, **kwargs)
        count += result
        if count >= 50 and count - result < 50:
            print("MID-BATCH", flush=True)
            time.sleep(120)  # the parent kills us here, this batch's firings written but not committed
        return result
    due_index.fire_many = slow_fire
    due_index.fire_due(assemble(make_engine(sys.argv[1])), datetime.fromisoformat(sys.argv[2]), limit=20)
""")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_worker_killed_mid_batch_then_another_fires_the_rest_once(kind, tmp_path):
    url = _fresh(kind, tmp_path)
    engine = assemble(make_engine(url))
    try:
        worker._seed(engine)
        child = subprocess.Popen([sys.executable, "-c", CHILD, url, worker.NOW.isoformat()], cwd=worker.ROOT,
                                 stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline()
            assert line.strip() == "MID-BATCH"
            os.kill(child.pid, signal.SIGKILL)
            child.wait(60)
        finally:
            if child.poll() is None:
                child.kill()
        assert _left(engine) == 10 + worker.ORDERS - 40  # two batches of 20 committed, the third rolled back
        assert due_index.fire_due(engine, worker.NOW) == worker.ORDERS - 40
        worker._assert_exactly_once(engine)
    finally:
        engine.dispose()
        workers.drop_database(url)
