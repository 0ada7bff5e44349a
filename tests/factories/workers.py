"""Worker processes on a database of their own: the setup the horizontal-worker tests and
bench/workers_kill.py share (issue 15).

- `fresh_database(name)` / `drop_database(url)`: a migrated database for one test (PostgreSQL, or
  SQLite in a temporary directory).
- `seed_approvals(engine, entered, now)`: orders in stage `approval` since the given moments, and the
  rule "approval time-out" (`hours_in_stage > 24`, a to-do once per episode) enabled, so each order
  has a due moment 24 h + 1 s after it entered; called again, it adds orders to the enabled rule.
- `start_worker(url)`: a real worker process — the runner's loop (backend/worker/runner.py), with its
  heartbeat, over the partitioned `rules_due` job (and `rules_scan` when asked) exactly as
  `gendan worker` assembles them — printing `HOLDS` lines; `stall=True` makes it stop inside its
  first due batch that fires anything, after the firings are written but before the commit, and
  print `MID-BATCH`; `stall="reconcile"` the same inside a reconciliation chunk (`MID-RECONCILE`);
  the caller SIGKILLs it there. SIGTERM stops it cleanly (it gives its partitions back).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import Session

from backend.inbox.models import InboxItem
from backend.migrate import upgrade
from backend.orders.models import Order
from backend.rules import definitions, due_index
from backend.rules.models import RuleFiring
from tests.conftest import PG_URL
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

ROOT = Path(__file__).resolve().parents[2]
RULE_KEY = "approval_timeout"


def fresh_database(name: str, kind: str = "postgresql", tmp_path: Path | None = None) -> str:
    """A migrated database of its own: PostgreSQL `name` (dropped first if left over), or SQLite
    `name`.db under `tmp_path`."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/{name}.db"
        upgrade(url)
        return url
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.dispose()


def approval_timeout() -> dict:
    return {
        "key": RULE_KEY, "name": {"zh": "审批超时", "en": "Approval time-out"}, "trigger": {"kind": "time"},
        "condition": {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
        "actions": [{"type": "create_todo", "assignee": {"kind": "current_approver"}, "priority": "high",
                     "title_template": "Approve {{ order.number }}"}],
        "firing": {"mode": "once_per_episode"},
    }


def seed_approvals(engine, entered: Sequence[datetime], now: datetime, *, actions: Sequence[dict] = (),
                   cc: bool = False) -> list[int]:
    """Orders in `approval` since each moment of `entered`, each with an open approval to-do; the
    rule enabled (first call, with `actions` after its to-do, and its to-do copied to the
    approver's manager when `cc`) or the new orders' moments computed (later calls). Their ids."""
    from tests.backend.rules.test_service import actor_of

    with Session(engine, expire_on_commit=False) as session:
        enabled = _enabled(session)
        approver = make_user(session, roles=("approver",), department=make_department(session, head=make_user(
            session, roles=("approver",))))
        rep = make_user(session)
        orders = []
        for at in entered:
            order = make_order(session, owner=rep, stage="approval", at=at)
            session.add(InboxItem(dedupe_key=f"flow:{order.id}", order_id=order.id, assignee_id=approver.id,
                                  kind="approval", title="Approve", created_at=at))
            orders.append(order)
        session.flush()
        if enabled:
            due_index.recompute_orders(session, orders, now)
        session.commit()
        ids = [o.id for o in orders]
        if not enabled:
            admin = actor_of(make_user(session, roles=("admin",)), "admin")
            session.commit()
            rule = approval_timeout()
            if cc:
                rule["actions"][0]["cc"] = [{"kind": "current_approver_manager"}]
            rule["actions"] = [*rule["actions"], *actions]
            definitions.save_draft(session, actor=admin, definition=rule, now=now)
            definitions.publish_rule(session, actor=admin, key=RULE_KEY, now=now)
            definitions.enable_rule(session, actor=admin, key=RULE_KEY, now=now, start="include_matching",
                                    confirm=True)
    return ids


def _enabled(session: Session) -> bool:
    from backend.rules.models import RuleDefinitionRow

    return session.execute(select(func.count()).select_from(RuleDefinitionRow).where(
        RuleDefinitionRow.key == RULE_KEY, RuleDefinitionRow.enabled.is_(True))).scalar_one() > 0


def firings_per_order(engine, order_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """order id → (firings of the rule, rule to-dos), for the given orders."""
    with engine.connect() as conn:
        firings = dict(conn.execute(select(RuleFiring.order_id, func.count()).where(
            RuleFiring.rule_key == RULE_KEY, RuleFiring.order_id.in_(order_ids)).group_by(RuleFiring.order_id)).all())
        todos = dict(conn.execute(select(InboxItem.order_id, func.count()).where(
            InboxItem.source == "rule", InboxItem.kind == "rule_alert", InboxItem.order_id.in_(order_ids))
            .group_by(InboxItem.order_id)).all())
    return {o: (firings.get(o, 0), todos.get(o, 0)) for o in order_ids}


def open_orders(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Order)).scalar_one()


CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time
    from backend.db import make_engine
    from backend.pipeline_assembly import assemble, build_jobs
    from backend.rules import due_index, scan
    from backend.worker import partitions
    from backend.worker.runner import run_forever

    mode, wanted = sys.argv[2], sys.argv[3].split(",")
    real_fire = due_index.fire_many
    def fire_many(*args, **kwargs):
        result = real_fire(*args, **kwargs)
        if mode == "stall" and result:
            print("MID-BATCH", result, flush=True)
            time.sleep(600)  # killed here: this batch's firings written, not committed
        return result
    due_index.fire_many = fire_many

    real_scan_fire = scan.fire_many
    def scan_fire_many(*args, **kwargs):
        result = real_scan_fire(*args, **kwargs)
        if mode == "stall-reconcile" and result and kwargs.get("trigger") == "reconcile":
            print("MID-RECONCILE", result, flush=True)
            time.sleep(600)  # killed here: this reconciliation chunk's firings written, not committed
        return result
    scan.fire_many = scan_fire_many

    real_claim = partitions.Worker.claim
    def claim(self, bind, job, **kwargs):
        got = real_claim(self, bind, job, **kwargs)
        print("HOLDS", len(got.held), flush=True)
        return got
    partitions.Worker.claim = claim

    engine = assemble(make_engine(sys.argv[1]))
    every = float(os.environ.get("GENDAN_BENCH_SCAN_SECONDS", "60"))
    jobs = [j for j in build_jobs(scan_interval_seconds=every) if j.name in wanted]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("STARTED", flush=True)
    run_forever(engine, jobs, stop)  # gives its partitions back when stopped
    print("STOPPED", flush=True)
""")


def start_worker(url: str, *, stall: bool | str = False, jobs: Sequence[str] = ("rules_due",),
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """`stall`: True stops inside the first due batch that fires (MID-BATCH); "reconcile" inside the
    first reconciliation chunk that fires (MID-RECONCILE). `jobs`: the assembled jobs it runs."""
    mode = "stall-reconcile" if stall == "reconcile" else "stall" if stall else "run"
    return subprocess.Popen([sys.executable, "-c", CHILD, url, mode, ",".join(jobs)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


class Lines:
    """A worker process's stdout read on a thread, so the test can wait for a line with a bound."""

    def __init__(self, proc: subprocess.Popen) -> None:
        import queue
        import threading

        self.proc, self.queue = proc, queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.queue.put(line.strip())
        self.queue.put(None)

    def wait_for(self, test, timeout: float = 120.0) -> str:
        """The first line for which `test(line)` holds; AssertionError after `timeout` s or at exit."""
        import queue
        import time

        until = time.monotonic() + timeout
        while (left := until - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"worker {self.proc.pid} exited ({self.proc.poll()})")
            if test(line):
                return line
        raise AssertionError(f"worker {self.proc.pid}: no such line within {timeout} s")
