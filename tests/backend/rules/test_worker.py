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

from backend.db import make_engine
from backend.inbox.models import InboxItem
from backend.migrate import upgrade
from backend.orders.models import Order, OrderEvent
from backend.pipeline_assembly import assemble
from backend.rules import definitions, tasks
from backend.rules.models import RuleFiring
from tests.backend.rules.test_service import actor_of, approval_timeout
from tests.conftest import PG_URL, _pg_available
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
ORDERS = 120


def _fresh_database(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/rules-worker.db"
    else:
        if not _pg_available():
            pytest.skip(f"no PostgreSQL server at {PG_URL}")
        name = f"gendan_rules_worker_{os.getpid()}"
        admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def _drop(url: str) -> None:
    if url.startswith("sqlite"):
        return
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.dispose()


FLAG_ACTION = {"type": "add_risk_flag", "flag": "approval_late"}  # changes the order: batched per chunk


def _seed(engine, *, flags: bool = False) -> None:
    with Session(engine, expire_on_commit=False) as session:
        boss = make_user(session, roles=("approver",))
        dept = make_department(session, head=boss)
        approver = make_user(session, roles=("approver",), department=dept)
        rep = make_user(session)
        admin = actor_of(make_user(session, roles=("admin",)), "admin")
        for i in range(ORDERS + 10):
            hours = 30 if i < ORDERS else 1  # the last ten have not waited long enough
            order = make_order(session, owner=rep, stage="approval", at=NOW - timedelta(hours=hours))
            session.add(InboxItem(dedupe_key=f"flow:{order.id}", order_id=order.id, assignee_id=approver.id,
                                  kind="approval", title="Approve", created_at=NOW))
        session.commit()
        rule = approval_timeout()
        if flags:
            rule["actions"] = [*rule["actions"], FLAG_ACTION]
        definitions.save_draft(session, actor=admin, definition=rule, now=NOW)
        definitions.publish_rule(session, actor=admin, key="approval_timeout", now=NOW)
        definitions.enable_rule(session, actor=admin, key="approval_timeout", now=NOW,
                                start="include_matching", confirm=True)  # 120 to-dos for one approver, on purpose


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


def test_two_workers_on_postgresql_fire_each_alert_once(tmp_path):
    url = _fresh_database("postgresql", tmp_path)
    engine = assemble(make_engine(url))
    try:
        _seed(engine)
        results, errors = [], []
        barrier = threading.Barrier(2)

        def worker():
            try:
                barrier.wait()
                results.append(tasks.scan_time_rules(engine, NOW))
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert sum(results) == ORDERS
        _assert_exactly_once(engine)

        # even when both ignore the lock and scan at once, the unique key holds
        with Session(engine) as session:
            session.execute(sa.delete(RuleFiring))
            session.execute(sa.delete(InboxItem).where(InboxItem.source == "rule"))
            session.execute(sa.text("DELETE FROM rule_order_state"))
            session.execute(sa.text("DELETE FROM rule_order_mask"))
            session.execute(sa.text("UPDATE rule_definition SET scan_slot = NULL, scan_ready = false, last_scan_at = NULL"))
            session.commit()

        def unlocked():
            barrier.wait()
            try:
                try:
                    results.append(tasks.scan_time_rules(engine, NOW, lock=False))
                except sa.exc.IntegrityError:  # lost the race on a state or mask row: the rerun finishes the job
                    results.append(tasks.scan_time_rules(engine, NOW, lock=False))
            except Exception as exc:  # surfaced below
                errors.append(exc)

        results.clear()
        threads = [threading.Thread(target=unlocked) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        _assert_exactly_once(engine)
    finally:
        engine.dispose()
        _drop(url)


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
    """The dead or frozen holder's scan lease runs out (a generous bound, not a timing)."""
    from backend.clock import utcnow
    from backend.worker.lease import WorkerLease

    deadline = time.monotonic() + bound_seconds
    while time.monotonic() < deadline:
        with Session(engine) as session:
            row = session.get(WorkerLease, tasks.SCAN_LEASE)
            if row is None or row.expires_at < utcnow():
                return
        time.sleep(0.2)
    raise AssertionError("the scan lease never expired")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("chunk", "flags"), [(500, False), (20, False), (20, True)])
def test_worker_killed_mid_scan_then_restarted(kind, chunk, flags, tmp_path, monkeypatch):
    """Killed in the chunk of the 50th firing: with chunks of 20 orders, two chunks (40 firings) had committed.
    `flags`: the rule also flags the order, a change through the order pipeline that commits (or
    not) with its chunk's firings."""
    monkeypatch.setenv("GENDAN_SCAN_LEASE_SECONDS", "2")
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
        _drop(url)


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
    forever. Now its lease runs out, the server ends its idle transaction, and a second worker
    process scans everything; resumed, the first writes nothing. Every alert fires once."""
    monkeypatch.setenv("GENDAN_SCAN_LEASE_SECONDS", "3")
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
        _drop(url)
