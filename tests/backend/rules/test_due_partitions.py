"""Horizontal workers on PostgreSQL (issue 15): two real worker processes share the order
partitions of `rules_due`; one is SIGKILLed in the middle of a batch (firings written, not
committed) and the other takes its partitions over and fires every (rule, order, episode) once.
bench/workers_kill.py repeats this with two and three workers, twenty times each."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.clock import utcnow
from backend.db import make_engine
from backend.pipeline_assembly import assemble
from backend.rules.models import RuleDue
from backend.worker import partitions
from tests.conftest import _pg_available
from tests.factories import workers as wf

ENV = {"GENDAN_WORKER_LEASE_SECONDS": "3", "GENDAN_WORKER_PARTITIONS": "16"}


def _wait(predicate, timeout: float = 120.0, what: str = ""):
    """Poll `predicate` until it returns something truthy (bounded; the machine is often loaded)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if got := predicate():
            return got
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def _held(engine) -> dict[int, list[int]]:
    """pid → the rules_due partitions it holds (live workers only)."""
    workers, _ = partitions.status(engine)
    return {w.pid: w.partitions.get("rules_due", []) for w in workers if w.live}


def test_two_worker_processes_share_partitions_and_one_killed_mid_batch_is_taken_over(monkeypatch):
    if not _pg_available():
        pytest.skip("no PostgreSQL server")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    url = wf.fresh_database(f"due_partitions_{os.getpid()}")
    engine = assemble(make_engine(url))
    procs = []
    try:
        survivor = wf.start_worker(url, env=ENV)
        victim = wf.start_worker(url, stall=True, env=ENV)
        procs += [survivor, victim]
        out_s, out_v = wf.Lines(survivor), wf.Lines(victim)
        out_s.wait_for(lambda line: line == "STARTED")
        out_v.wait_for(lambda line: line == "STARTED")

        # both live: eight partitions each, none held twice
        def shared():
            held = _held(engine)
            return held if sorted(map(len, held.values())) == [8, 8] else None

        held = _wait(shared, what="two workers holding 8 partitions each")
        assert set(held) == {survivor.pid, victim.pid}
        assert sorted(p for ps in held.values() for p in ps) == list(range(16))
        victims = set(held[victim.pid])

        # 120 orders due now, spread over all partitions
        now = utcnow()
        ids = wf.seed_approvals(engine, [now - timedelta(hours=24, seconds=2)] * 120, now)
        assert {i % 16 for i in ids} == set(range(16))
        line = out_v.wait_for(lambda line: line.startswith("MID-BATCH"))
        assert int(line.split()[1]) > 0  # the victim wrote firings in its batch ...
        os.kill(victim.pid, signal.SIGKILL)  # ... and dies before committing them
        victim.wait(60)

        # the survivor takes the victim's partitions over and fires everything, once
        _wait(lambda: _held(engine).get(survivor.pid) == list(range(16)), what="survivor holds all 16")
        _wait(lambda: all(f == (1, 1) for f in wf.firings_per_order(engine, ids).values()), what="all fired")
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(RuleDue)).scalar_one() == 0
        assert set(wf.firings_per_order(engine, ids).values()) == {(1, 1)}  # one firing, one to-do each
        assert any(i % 16 in victims for i in ids)

        survivor.send_signal(signal.SIGTERM)  # a clean stop gives the partitions back at once
        out_s.wait_for(lambda line: line == "STOPPED")
        survivor.wait(60)
        assert _held(engine) == {}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        engine.dispose()
        wf.drop_database(url)
