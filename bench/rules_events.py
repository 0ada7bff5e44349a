"""Benchmark: the event path as an order change runs it, with 100 enabled event rules.

`backend.rules.firing.evaluate_event_rules` is the order hook: it reads the enabled event rules,
builds the order's facts, reads the order's firing states and evaluates every rule that listens
to the change. Here all 100 rules listen to `field_changed` and none fires (their conditions are
false), so the figure is the price every order save pays. bench/rules_scan.py times the
evaluation alone (no database).

`--path update` times the whole order-change path instead: `orders_service.update_order` (lock,
version check, the pipeline's checks, the event, flows, rules, customer messages, live push,
commit) with the same 100 rules listening.

`--firing K`: K of the 100 rules hold on every change (`every_time`) and each gives the owner a
to-do and a notification, so a change also pays for K firings.

Each change's SQL statements are counted (a `before_cursor_execute` listener on the engine): the
load-independent figure, where p99 on a shared machine measures the other processes.

Where the tail goes: each change's process CPU (`time.process_time`) is kept beside its wall time,
and the time Python's cyclic collector ran inside it (`gc.callbacks`); the figures without the
changes a collection fell in show what the collector adds to p99. `--gc freeze` moves everything
alive after the seed to the collector's permanent generation first (`gc.freeze()`, what a server
does after start-up: backend/gc_pause.py `freeze_after_start`), so a full collection no longer
walks the imported modules' objects; `--gc pause` runs each change with the collector paused
(backend/gc_pause.py `paused`).

Usage: .venv/bin/python bench/rules_events.py [--url sqlite:///... | postgresql://.../a_bench_database] [--changes 500]
       [--path hook|update] [--gc on|freeze|pause]
Default: a fresh SQLite file in a temporary folder, the hook alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event, make_url
from sqlmodel import Session

import backend.models  # noqa: F401  (every table, for foreign keys)
from backend import gc_pause
from backend.auth.service import load_actor
from backend.customers.models import Customer
from backend.db import make_engine, new_session
from backend.migrate import upgrade
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.people.models import User, UserRole
from backend.pipeline_assembly import assemble
from backend.rules import firing
from backend.rules.models import RuleDefinitionRow

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def seed(engine, firing_rules: int = 0) -> tuple[int, int]:
    stamp = time.time_ns()
    with Session(engine) as session:
        user = User(username=f"bench{stamp}", display_name="Bench", email=f"b{stamp}@x.test", password_hash="x",
                    created_at=NOW)
        customer = Customer(code=f"B{stamp}", name="Bench customer", created_at=NOW)
        session.add_all([user, customer])
        session.flush()
        session.add(UserRole(user_id=user.id, role="sales"))
        order = Order(number=f"EV{stamp}", customer_id=customer.id, owner_id=user.id, amount=Decimal("5000"),
                      stage="production", stage_entered_at=NOW - timedelta(days=1), created_at=NOW, updated_at=NOW)
        session.add(order)
        for i in range(100):
            definition = {"key": f"ev_{stamp}_{i}", "name": {"en": f"Event {i}"}, "status": "published",
                          "enabled": True, "trigger": {"kind": "event", "events": ["field_changed"]},
                          "condition": {"and": [{">": [{"var": "amount"}, 1000 * i]},
                                                {"==": [{"var": "stage"}, "shipping"]}]},
                          "actions": [{"type": "add_tag", "tag": "late"}]}
            if i < firing_rules:  # holds on every change and fires every time
                definition |= {"condition": {">": [{"var": "amount"}, 0]}, "firing": {"mode": "every_time"},
                               "actions": [{"type": "create_todo", "assignee": {"kind": "owner"},
                                            "title_template": "Order {{ order.number }} changed (" + str(i) + ")"},
                                           {"type": "notify", "recipients": [{"kind": "owner"}],
                                            "title_template": "Amount now {{ order.amount }}"}]}
            session.add(RuleDefinitionRow(key=definition["key"], version=1, status="published", definition=definition,
                                          enabled=True, is_time_rule=False, created_at=NOW, updated_at=NOW))
        session.commit()
        return order.id, user.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=f"sqlite:///{tempfile.mkdtemp()}/rules-events.db")
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--path", choices=("hook", "update"), default="hook")
    parser.add_argument("--firing", type=int, default=0, help="rules of the 100 that fire on every change")
    parser.add_argument("--gc", choices=("on", "freeze", "pause"), default="on",
                        help="the cyclic collector as is, frozen after the seed, or paused around each change")
    args = parser.parse_args()
    if make_url(args.url).database in ("postgres", "template0", "template1"):
        parser.error("give a database of the bench's own: it migrates and seeds the one it is given, "
                     "not the server's maintenance database")
    upgrade(args.url)
    engine = make_engine(args.url)
    order_id, user_id = seed(engine, args.firing)
    GC.mode = args.gc
    if args.gc == "freeze":
        gc_pause.freeze_after_start()
    gc.callbacks.append(GC.callback)
    load_before = os.getloadavg()
    samples = time_hook(engine, order_id, args.changes) if args.path == "hook" else \
        time_update(engine, order_id, user_id, args.changes)
    timings = sorted(s.wall for s in samples)
    cpu = sorted(s.cpu for s in samples)
    statements = [s.statements for s in samples]
    no_gc = sorted(s.wall for s in samples if not s.gc_seconds)
    print(json.dumps({"database": engine.dialect.name, "path": args.path, "rules": 100, "firing": args.firing,
                      "changes": args.changes, "gc": args.gc,
                      "p50_ms": ms(timings, 0.5), "p95_ms": ms(timings, 0.95), "p99_ms": ms(timings, 0.99),
                      "cpu_p50_ms": ms(cpu, 0.5), "cpu_p99_ms": ms(cpu, 0.99),
                      "changes_with_a_collection": len(samples) - len(no_gc),
                      "collections": GC.counts, "collector_ms_max": round(max(s.gc_seconds for s in samples) * 1000, 2),
                      "p99_ms_without_those": ms(no_gc, 0.99),
                      "statements_per_change": {"min": min(statements), "median": statistics.median(statements),
                                                "max": max(statements)},
                      "load_before": load_before, "load_after": os.getloadavg()}, indent=2))


def ms(sorted_seconds: list[float], q: float) -> float:
    return round(sorted_seconds[min(len(sorted_seconds) - 1, int(len(sorted_seconds) * q))] * 1000, 2)


class GC:
    """Time Python's cyclic collector runs, per generation (gc.callbacks)."""

    mode = "on"
    seconds = 0.0
    started = 0.0
    counts = {0: 0, 1: 0, 2: 0}

    @classmethod
    def callback(cls, phase: str, info: dict) -> None:
        if phase == "start":
            cls.started = time.perf_counter()
        else:
            cls.seconds += time.perf_counter() - cls.started
            cls.counts[info["generation"]] += 1


class Sample:
    __slots__ = ("wall", "cpu", "statements", "gc_seconds")


def timed(counter, run) -> Sample:
    sample = Sample()
    counted, collected = counter.count, GC.seconds
    started, cpu = time.perf_counter(), time.process_time()
    if GC.mode == "pause":
        with gc_pause.paused():
            run()
    else:
        run()
    sample.wall, sample.cpu = time.perf_counter() - started, time.process_time() - cpu
    sample.statements, sample.gc_seconds = counter.count - counted, GC.seconds - collected
    return sample


class StatementCounter:
    """SQL statements sent on `engine` (every cursor execute, executemany counted once)."""

    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def time_hook(engine, order_id: int, changes: int) -> list[Sample]:
    samples = []
    counter = StatementCounter(engine)
    with Session(assemble(engine)) as session:  # the pipeline, for a firing's effects
        order = session.get(Order, order_id)
        for _ in range(changes):
            samples.append(timed(counter, lambda: firing.evaluate_event_rules(
                session, order, changes={"amount": Decimal("4000")}, actor=None, now=NOW, is_new=False)))
        session.rollback()
    return samples


def time_update(engine, order_id: int, user_id: int, changes: int) -> list[Sample]:
    """Each change a committed PATCH of the amount through the assembled pipeline."""
    samples = []
    counter = StatementCounter(engine)
    with new_session(assemble(engine)) as session:
        actor = load_actor(session, user_id)
        version = session.get(Order, order_id).version
        for i in range(changes):
            result: list = []
            samples.append(timed(counter, lambda i=i, v=version, out=result: out.append(orders_service.update_order(
                session, actor=actor, order_id=order_id, now=NOW,
                payload=OrderUpdate(version=v, amount=Decimal(4000 + i % 2))))))
            version = result[0].version
    return samples


if __name__ == "__main__":
    main()
