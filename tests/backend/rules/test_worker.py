"""The monitor under stress: two workers scanning at once on PostgreSQL, and a worker killed with
SIGKILL in the middle of a scan and restarted. No alert is duplicated and none is missed.

These tests commit for real, so they use their own databases (not the rolled-back fixtures).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import Session

from backend.clock import utcnow
from backend.db import make_engine
from backend.inbox.models import InboxItem
from backend.orders.models import Order, OrderEvent
from backend.pipeline_assembly import assemble
from backend.rules import tasks
from backend.rules.models import RuleFiring
from backend.worker.partitions import WorkerPartition
from tests.conftest import _pg_available
from tests.factories import workers as wf

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
ORDERS = 120
FLAG_ACTION = {"type": "add_risk_flag", "flag": "approval_late"}  # changes the order: batched per chunk


def _fresh_database(kind: str, tmp_path) -> str:
    if kind == "postgresql" and not _pg_available():
        pytest.skip("no PostgreSQL server")
    return wf.fresh_database(f"gendan_rules_worker_{os.getpid()}", kind, tmp_path)


def _seed(engine, *, flags: bool = False) -> None:
    """ORDERS orders 30 h in approval and ten that have not waited long enough; the approval
    time-out enabled over them (one to-do each, copied to the approver's manager, once per episode)."""
    wf.seed_approvals(engine, [NOW - timedelta(hours=30)] * ORDERS + [NOW - timedelta(hours=1)] * 10, NOW,
                      actions=[FLAG_ACTION] if flags else (), cc=True)


def _assert_exactly_once(engine, *, flags: bool = False) -> None:
    with engine.connect() as conn:
        if flags:  # each fired order flagged once: one version bump, one recorded event
            flagged = conn.execute(select(Order.id, Order.version, Order.risk_flags)
                                   .where(Order.stage == "approval")).all()
            assert sorted(len(f) for _, _, f in flagged) == [0] * 10 + [1] * ORDERS
            assert {v for _, v, f in flagged if f} == {2} and {v for _, v, f in flagged if not f} == {1}
            events = conn.execute(select(OrderEvent.order_id, func.count()).where(OrderEvent.type == "risk_flagged")
                                  .group_by(OrderEvent.order_id)).all()
            assert len(events) == ORDERS and {n for _, n in events} == {1}
        firings = conn.execute(select(RuleFiring.order_id, func.count()).group_by(RuleFiring.order_id)).all()
        todos = conn.execute(
            select(InboxItem.order_id, func.count()).where(InboxItem.source == "rule", InboxItem.kind == "rule_alert")
            .group_by(InboxItem.order_id)
        ).all()
    assert len(firings) == ORDERS and {n for _, n in firings} == {1}
    assert len(todos) == ORDERS and {n for _, n in todos} == {1}


def _settled(engine, *workers) -> list:
    """Claim in turns until the workers hold fair shares of the scan's partitions (the runner's
    heartbeat does this every third of the lease); their claims."""
    for _ in range(4):
        for w in workers:
            w.claim(engine, tasks.SCAN_JOB)
    claims = [w.claims[tasks.SCAN_JOB] for w in workers]
    assert sorted(len(c.held) for c in claims) == sorted(
        16 // len(workers) + (i < 16 % len(workers)) for i in range(len(workers)))
    return claims


def test_two_workers_on_postgresql_fire_each_alert_once(tmp_path):
    """Two workers scan at once, each its own partitions: every alert once, each by the holder of
    its order's partition; then both ignore the partitions and scan everything: still once."""
    from backend.worker.partitions import Worker

    url = _fresh_database("postgresql", tmp_path)
    engine = assemble(make_engine(url))
    try:
        _seed(engine)
        claims = _settled(engine, Worker("a", utcnow()), Worker("b", utcnow() + timedelta(seconds=1)))
        results, errors = {}, []
        barrier = threading.Barrier(2)

        def worker(claim):
            try:
                barrier.wait()
                results[claim.holder] = tasks.scan_time_rules(engine, NOW, claim=claim)
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(c,)) for c in claims]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert sum(results.values()) == ORDERS and all(results.values())  # both had orders to fire
        _assert_exactly_once(engine)
        with engine.connect() as conn:
            fired = conn.execute(select(RuleFiring.order_id)).scalars().all()
        for claim in claims:  # each fired exactly the orders of its partitions
            assert results[claim.holder] == sum(1 for o in fired if claim.owns(o))

        # even when both ignore the partitions and scan everything at once, the unique key holds
        with Session(engine) as session:
            session.execute(sa.delete(RuleFiring))
            session.execute(sa.delete(InboxItem).where(InboxItem.source == "rule"))
            session.execute(sa.text("DELETE FROM rule_order_state"))
            session.execute(sa.text("DELETE FROM rule_order_mask"))
            session.execute(sa.text("DELETE FROM rule_scan_partition"))
            session.execute(sa.text("UPDATE rule_definition SET scan_slot = NULL, scan_ready = false, last_scan_at = NULL"))
            session.commit()
        barrier = threading.Barrier(2)

        def unlocked():
            barrier.wait()
            try:
                try:
                    tasks.scan_time_rules(engine, NOW, lock=False)
                except sa.exc.IntegrityError:  # lost the race on a state or mask row: the rerun finishes the job
                    tasks.scan_time_rules(engine, NOW, lock=False)
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=unlocked) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        _assert_exactly_once(engine)
    finally:
        engine.dispose()
        wf.drop_database(url)


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from backend.db import make_engine
    from backend.pipeline_assembly import assemble
    from backend.rules import scan, tasks
    real_fire = scan.fire_many
    count = 0
    def slow_fire(*args, **kwargs):
        global count
        result = real_fire(*args, **kwargs)
        count += result
        if count >= 50 and count - result < 50:
            print("MID-SCAN", flush=True)
            time.sleep(120)  # the parent kills us here, with the 50th firing's chunk written but not committed
        return result
    scan.fire_many = slow_fire  # what the scan calls for each chunk
    tasks.CHUNK = int(sys.argv[3])
    tasks.scan_time_rules(assemble(make_engine(sys.argv[1])), datetime.fromisoformat(sys.argv[2]))
""")


def _wait_for_free_lease(engine, bound_seconds: float = 60) -> None:
    """The dead or frozen holder's partition leases of the scan run out (a generous bound, not a timing)."""
    if engine.dialect.name != "postgresql":
        return  # SQLite: one worker, nothing leased
    deadline = time.monotonic() + bound_seconds
    while time.monotonic() < deadline:
        with Session(engine) as session:
            held = session.execute(select(func.count()).select_from(WorkerPartition).where(
                WorkerPartition.job == tasks.SCAN_JOB, WorkerPartition.expires_at >= utcnow())).scalar_one()
            if held == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the scan's partition leases never expired")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("chunk", "flags"), [(500, False), (20, False), (20, True)])
def test_worker_killed_mid_scan_then_restarted(kind, chunk, flags, tmp_path, monkeypatch):
    """Killed in the chunk of the 50th firing: with chunks of 20 orders, two chunks (40 firings) had committed.
    `flags`: the rule also flags the order, a change through the order pipeline that commits (or
    not) with its chunk's firings."""
    monkeypatch.setenv("GENDAN_WORKER_LEASE_SECONDS", "2")
    url = _fresh_database(kind, tmp_path)
    engine = assemble(make_engine(url))
    try:
        _seed(engine, flags=flags)
        child = subprocess.Popen([sys.executable, "-c", CHILD, url, NOW.isoformat(), str(chunk)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline()
            assert line.strip() == "MID-SCAN"
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        time.sleep(0.2)
        with engine.connect() as conn:
            committed = conn.execute(select(func.count()).select_from(RuleFiring)).scalar_one()
        assert committed == (50 // chunk) * chunk
        _wait_for_free_lease(engine)  # the killed worker's lease runs out
        # the restarted worker's next scan does the rest of the job, once
        assert tasks.scan_time_rules(engine, NOW + timedelta(minutes=1)) == ORDERS - committed
        assert tasks.scan_time_rules(engine, NOW + timedelta(minutes=2)) == 0
        _assert_exactly_once(engine, flags=flags)
    finally:
        engine.dispose()
        wf.drop_database(url)


STOPPABLE = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from backend.db import make_engine
    from backend.pipeline_assembly import assemble
    from backend.rules import scan, tasks
    real_fire = scan.fire_many
    count = 0
    def slow_fire(*args, **kwargs):
        global count
        result = real_fire(*args, **kwargs)
        count += result
        if count >= 50 and count - result < 50:
            print("MID-SCAN", flush=True)
            time.sleep(1)  # the parent stops us here, in an open transaction holding firings
        return result
    scan.fire_many = slow_fire  # what the scan calls for each chunk
    tasks.CHUNK = 20
    try:
        print("FIRED", tasks.scan_time_rules(assemble(make_engine(sys.argv[1])), datetime.fromisoformat(sys.argv[2])), flush=True)
    except Exception as exc:  # its connection was ended by the server while it was stopped
        print("FAILED", type(exc).__name__, flush=True)
""")

SCANNER = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from backend.db import make_engine
    from backend.pipeline_assembly import assemble
    from backend.rules import tasks
    engine = assemble(make_engine(sys.argv[1]))
    total, deadline = 0, time.monotonic() + 90
    while total == 0 and time.monotonic() < deadline:  # a worker's loop: scan until it gets the lease
        total = tasks.scan_time_rules(engine, datetime.fromisoformat(sys.argv[2]))
        time.sleep(0.2)
    print("FIRED", total, flush=True)
""")


def test_a_frozen_scanner_is_taken_over_and_its_late_writes_are_fenced(tmp_path, monkeypatch):
    """Issue 18: a worker stopped with SIGSTOP mid-scan held the advisory lock and its transaction
    forever. Now its partition leases run out, the server ends its idle transaction, and a second
    worker process takes the partitions and scans them; resumed, the first writes nothing. Every
    alert fires once."""
    monkeypatch.setenv("GENDAN_WORKER_LEASE_SECONDS", "3")
    monkeypatch.setenv("GENDAN_SCAN_LEASE_SECONDS", "5")  # how long the server lets its transaction idle
    url = _fresh_database("postgresql", tmp_path)
    engine = assemble(make_engine(url))
    frozen = other = None
    try:
        _seed(engine)
        frozen = subprocess.Popen([sys.executable, "-c", STOPPABLE, url, NOW.isoformat()], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        assert frozen.stdout.readline().strip() == "MID-SCAN"
        os.kill(frozen.pid, signal.SIGSTOP)
        other = subprocess.Popen([sys.executable, "-c", SCANNER, url, NOW.isoformat()], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        out, _ = other.communicate(timeout=120)
        fired_by_other = int(out.split()[-1])
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(RuleFiring)).scalar_one() == ORDERS
        assert fired_by_other == ORDERS - 40  # the frozen one had committed two chunks of 20
        os.kill(frozen.pid, signal.SIGCONT)
        late, _ = frozen.communicate(timeout=60)
        # its connection was ended by the server (an error), or its fence found the lease taken (0)
        assert late.startswith("FAILED") or late.split() == ["FIRED", "0"], late
        _assert_exactly_once(engine)
    finally:
        for proc in (frozen, other):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
        engine.dispose()
        wf.drop_database(url)


class _Killed(BaseException):
    """Stands for SIGKILL inside a reconciliation chunk: nothing after it runs, nothing commits."""


def _die(engine, worker) -> None:
    """What the database holds after `worker` was SIGKILLed: its heartbeat and leases not renewed."""
    from backend.worker.partitions import WorkerHeartbeat

    with Session(engine) as session:
        session.execute(sa.update(WorkerHeartbeat).where(WorkerHeartbeat.holder == worker.holder)
                        .values(seen_at=utcnow() - timedelta(hours=1)))
        session.execute(sa.update(WorkerPartition).where(WorkerPartition.holder == worker.holder)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()


def test_each_worker_reconciles_its_partitions_and_a_killed_ones_are_reconciled_by_the_taker(tmp_path,
                                                                                            monkeypatch):
    """The hourly reconciliation split by partition: after enabling, every partition is reconciled
    (by its holder) and finds nothing the index fired; an order changed behind the pipeline's back
    (a missed path) is fired by the holder of its partition and the admins are told; a worker
    killed inside its reconciliation leaves its partitions unmarked, and the worker that takes them
    over reconciles them: every missed firing exactly once."""
    from backend.notify.models import Notification
    from backend.rules import due_index, scan
    from backend.worker.partitions import Worker

    monkeypatch.setenv("GENDAN_WORKER_LEASE_SECONDS", "600")  # the test's own pace: deaths are simulated
    url = _fresh_database("postgresql", tmp_path)
    engine = assemble(make_engine(url))
    try:
        _seed(engine)
        assert due_index.fire_due(engine, NOW) == ORDERS  # the index fires what is due
        a, b = Worker("a", utcnow()), Worker("b", utcnow() + timedelta(seconds=1))
        ca, cb = _settled(engine, a, b)
        # enabling asked for a reconciliation of every partition: each holder does its own, finds nothing
        assert tasks.check_time_rules(engine, NOW, claim=ca) == 0
        assert tasks.check_time_rules(engine, NOW, claim=cb) == 0
        with engine.connect() as conn:
            marked = conn.execute(sa.text("SELECT partition FROM rule_scan_partition WHERE ready")).scalars().all()
            waiting = conn.execute(select(Order.id).where(Order.stage_entered_at > NOW - timedelta(hours=2))
                                   .order_by(Order.id)).scalars().all()
        assert sorted(marked) == list(range(16))
        assert tasks.check_time_rules(engine, NOW + timedelta(minutes=1), claim=ca) == 0  # not due again yet

        def behind_the_pipeline(ids):  # the stage clock moved by a path that skips the order pipeline
            with Session(engine) as session:
                session.execute(sa.update(Order).where(Order.id.in_(ids))
                                .values(stage_entered_at=NOW - timedelta(hours=30)))
                session.commit()

        def reconciled(ids):
            with engine.connect() as conn:
                return dict(conn.execute(select(RuleFiring.order_id, RuleFiring.trigger)
                                         .where(RuleFiring.order_id.in_(ids))).all())

        first = [o for o in waiting if ca.owns(o)][:2] + [o for o in waiting if cb.owns(o)][:2]
        behind_the_pipeline(first)
        later = NOW + timedelta(hours=1)
        assert len(first) == 4
        assert tasks.check_time_rules(engine, later, claim=ca) == 2  # a's partitions only
        assert tasks.check_time_rules(engine, later, claim=cb) == 2
        assert reconciled(first) == dict.fromkeys(first, "reconcile")

        with engine.connect() as conn:
            told = conn.execute(select(func.count()).select_from(Notification)
                                .where(Notification.dedupe_key.like("rule_due_missed:%"))).scalar_one()
        assert told == 2  # the admin, once per worker that found something in its partitions

        second = [o for o in waiting if ca.owns(o) and o not in first][:2] + \
                 [o for o in waiting if cb.owns(o) and o not in first][:1]
        a_second = [o for o in second if ca.owns(o)]
        assert a_second and len(second) > len(a_second)
        behind_the_pipeline(second)
        later = NOW + timedelta(hours=2)
        assert tasks.check_time_rules(engine, later, claim=cb) == 1
        real_apply = scan.apply_chunk

        def killed(*args, **kwargs):
            real_apply(*args, **kwargs)  # its firings written, not committed
            raise _Killed

        monkeypatch.setattr(scan, "apply_chunk", killed)
        with pytest.raises(_Killed):
            tasks.check_time_rules(engine, later, claim=ca)
        monkeypatch.setattr(scan, "apply_chunk", real_apply)
        assert set(reconciled(second)) == {o for o in second if cb.owns(o)}  # a's died with it
        _die(engine, a)
        for _ in range(2):
            b.claim(engine, tasks.SCAN_JOB)
        assert b.claims[tasks.SCAN_JOB].held == list(range(16))  # b took a's partitions over
        # a's partitions were not marked reconciled at `later`: b reconciles them now, its own not again
        assert tasks.check_time_rules(engine, later + timedelta(minutes=1),
                                      claim=b.claims[tasks.SCAN_JOB]) == len(a_second)
        assert reconciled(second) == dict.fromkeys(second, "reconcile")
        assert tasks.check_time_rules(engine, later + timedelta(minutes=2), claim=b.claims[tasks.SCAN_JOB]) == 0
        with engine.connect() as conn:
            per_order = conn.execute(select(RuleFiring.order_id, func.count()).group_by(RuleFiring.order_id)).all()
        assert len(per_order) == ORDERS + len(first) + len(second) and {n for _, n in per_order} == {1}
    finally:
        engine.dispose()
        wf.drop_database(url)
