"""Benchmark: a burst of firings. N orders (default 10,000) cross one threshold at once ("in approval
for more than 24 hours"), and one scan fires them all: a to-do for the owner (cc the owner's manager),
a notification and a customer message each. Times that scan with the per-firing path and with the
bulk path (backend/rules/bulk.py), on PostgreSQL and SQLite, and checks every order fired exactly
once with one to-do, one notification and one outbox row.

Each run: a baseline scan one minute before the threshold (nothing matches yet; the rule gets its
baseline), then the timed scan one minute after it. Between the two paths everything the first
wrote is deleted and the rule starts over.

`--risk-flag`: the rule also flags the order (`add_risk_flag`), an effect that changes the order and
goes through the order pipeline (one change per order, batched per chunk: backend/effects.py
`change_orders`); the check then also wants every order flagged, at version 2, with one
`risk_flagged` event.

Usage: .venv/bin/python bench/rules_burst.py [--orders 10000] [--only postgresql|sqlite] [--risk-flag]
PostgreSQL: a database of its own (gendan_rules_burst) on the local server, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import delete, func, insert, select, text, update
from sqlmodel import Session

import backend.models  # noqa: F401  (every table, for foreign keys)
from backend import i18n
from backend.customers.models import Customer
from backend.db import make_engine
from backend.inbox.models import InboxItem
from backend.migrate import upgrade
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.people.models import User
from backend.pipeline_assembly import assemble
from backend.rules import tasks
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderMask, RuleOrderState
from backend.worker.lease import WorkerLease
from engine.rules.definition import RuleDefinition

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL = os.environ.get("GENDAN_BURST_PG_URL", "postgresql://postgres@127.0.0.1:5432/gendan_rules_burst")
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Shanghai
THRESHOLD = NOW - timedelta(hours=24)  # every order entered approval 30 s after this: they cross together
RULE = RuleDefinition(
    key="burst", status="published", enabled=True, name={"en": "Approval waits", "zh": "审批等待"},
    trigger={"kind": "time"},
    condition={"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
    actions=(
        {"type": "create_todo", "assignee": {"kind": "owner"}, "cc": [{"kind": "owner_manager"}], "priority": "high",
         "title_template": {"zh": "订单 {{ order.number }}（{{ customer.name }}）审批超过 24 小时",
                            "en": "Order {{ order.number }} ({{ customer.name }}) waits for approval"},
         "body_template": {"en": "{{ order.amount }} {{ order.currency }}, owner {{ owner.name }}"}},
        {"type": "notify", "recipients": [{"kind": "owner"}], "title_template": "Approval late: {{ order.number }}"},
        {"type": "message_customer", "subject_template": {"en": "Your order {{ order.number }}"},
         "body_template": {"en": "Dear {{ customer.name }}, your order is being reviewed."}},
    ),
    firing={"mode": "once_per_episode"},
)
RULE_FLAGS = False  # --risk-flag


def pg_database() -> str:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = PG_URL.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return PG_URL


def drop_pg() -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{PG_URL.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.dispose()


def seed(engine, orders: int) -> None:
    with Session(engine) as session:
        session.add_all(User(username=f"u{g}", display_name=f"User {g}", email=f"u{g}@x.test", password_hash="x",
                             created_at=NOW) for g in range(1, 51))
        session.add_all(Customer(code=f"C{g}", name=f"Customer {g}", email=f"c{g}@x.test", created_at=NOW)
                        for g in range(1, 201))
        session.commit()
    entered = THRESHOLD + timedelta(seconds=30)
    rows = [{"number": f"B{g:06d}", "customer_id": 1 + g % 200, "owner_id": 1 + g % 50, "amount": Decimal(1000 + g),
             "currency": "CNY", "stage": "approval", "status": "open", "stage_entered_at": entered,
             "source": "bench", "data": {}, "tags": [], "risk_flags": [], "urge_count": 0, "version": 1,
             "created_at": entered, "updated_at": entered} for g in range(orders)]
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(Order.__table__), rows[start:start + 1000])
        conn.execute(insert(RuleDefinitionRow.__table__).values(
            key=RULE.key, version=1, status="published", definition=RULE.model_dump(mode="json"), enabled=True,
            is_time_rule=True, is_event_only=False, scan_ready=False, start_from_now=False, created_at=NOW,
            updated_at=NOW))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def with_risk_flag(rule: RuleDefinition) -> RuleDefinition:
    actions = [a.model_dump(mode="json") for a in rule.actions] + [{"type": "add_risk_flag", "flag": "approval_late"}]
    return RuleDefinition.model_validate({**rule.model_dump(mode="json"), "actions": actions})


def reset(engine) -> None:
    with engine.begin() as conn:
        for table in (InboxItem, Notification, OutboxMessage, RuleFiring, RuleOrderState, RuleOrderMask, WorkerLease,
                      OrderEvent):
            conn.execute(delete(table.__table__))
        conn.execute(update(Order.__table__).values(risk_flags=[], version=1))
        conn.execute(update(RuleDefinitionRow.__table__).values(scan_slot=None, scan_ready=False, last_scan_at=None))


def check(engine, orders: int) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            "firings": conn.execute(select(func.count()).select_from(RuleFiring)).scalar_one(),
            "orders_fired": conn.execute(select(func.count(RuleFiring.order_id.distinct()))).scalar_one(),
            "todos": conn.execute(select(func.count()).select_from(InboxItem).where(InboxItem.kind == "rule_alert"))
            .scalar_one(),
            "notifications": conn.execute(select(func.count()).select_from(Notification)).scalar_one(),
            "outbox": conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one(),
        }
        if RULE_FLAGS:
            counts["flagged_at_version_2"] = conn.execute(select(func.count()).select_from(Order).where(
                Order.version == 2, func.cast(Order.risk_flags, sa.Text).like('%approval_late%'))).scalar_one()
            counts["risk_flagged_events"] = conn.execute(select(func.count()).select_from(OrderEvent).where(
                OrderEvent.type == "risk_flagged")).scalar_one()
    assert all(n == orders for n in counts.values()), counts  # every order, exactly once
    return counts


def server_pids(engine) -> list[int]:
    """The PostgreSQL server processes of this database (the engine's pooled connections, which the
    timed scan reuses), to count the server's CPU too."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        name = PG_URL.rsplit("/", 1)[1]
        return list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :n"), {"n": name}).scalars())


def server_cpu(pids: list[int]) -> float:
    """user + system CPU seconds of these processes (/proc/<pid>/stat, Linux)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def burst(engine, orders: int, bulk: bool) -> dict[str, float | int]:
    reset(engine)
    tasks.BULK_FIRING = bulk
    assert tasks.scan_time_rules(engine, THRESHOLD + timedelta(hours=24) - timedelta(minutes=1)) == 0  # baseline
    # the zh_CN catalogue (read from the .po files once per process: ~1 s) is loaded before the
    # timed scan, as in a worker that has fired before; until burst2 it was inside the first chunk
    i18n.translations("zh_CN")
    backends = server_pids(engine)
    server = server_cpu(backends)
    started = time.perf_counter()
    cpu = time.process_time()
    fired = tasks.scan_time_rules(engine, NOW + timedelta(minutes=1))
    seconds = time.perf_counter() - started
    out = {"fired": fired, "seconds": round(seconds, 2), "firings_per_s": round(fired / seconds),
           "process_cpu_s": round(time.process_time() - cpu, 2)}
    if backends:
        out["server_cpu_s"] = round(server_cpu(backends) - server, 2)
    check(engine, orders)
    assert tasks.scan_time_rules(engine, NOW + timedelta(minutes=2)) == 0  # nothing fires twice
    check(engine, orders)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    parser.add_argument("--paths", default="per_firing,bulk")
    parser.add_argument("--risk-flag", action="store_true", help="the rule also flags the order (changes it)")
    args = parser.parse_args()
    global RULE, RULE_FLAGS
    if args.risk_flag:
        RULE, RULE_FLAGS = with_risk_flag(RULE), True
    results: dict[str, object] = {"orders": args.orders, "risk_flag": args.risk_flag, "load_before": os.getloadavg()}
    for kind in ("postgresql", "sqlite"):
        if args.only and kind != args.only:
            continue
        if kind == "postgresql":
            url = pg_database()
        else:
            url = f"sqlite:///{tempfile.mkdtemp()}/burst.db"
        upgrade(url)
        engine = assemble(make_engine(url))
        try:
            seed(engine, args.orders)
            for path in args.paths.split(","):
                results[f"{kind}_{path}"] = burst(engine, args.orders, bulk=path == "bulk")
                print(json.dumps({f"{kind}_{path}": results[f"{kind}_{path}"]}), flush=True)
        finally:
            engine.dispose()
            if kind == "postgresql":
                drop_pg()
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
