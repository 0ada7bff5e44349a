"""Benchmark: what-if replay of a rule set (issue 14 target: 10,000 orders x 20 rules <= 30 s), and
with `--flow` of a changed flow (10,000 orders that ran it, both versions; bench/flow_whatif_seed.py).

Seeds a fresh database with `--orders` orders over the last four weeks, each with its event log
(created, two to four stage moves, an amount change on every third, a customer urge on every
fifth), and 20 rules — 8 event rules and 12 time rules (hours and working hours in a stage, days
until planned delivery, days since created, a relative date) — each published and with a changed
draft (thresholds moved). Then times `backend.replay.service.what_if_rule_set`, which reads the
orders and events set-based, rebuilds every timeline and replays the 20 published versions and
the 20 drafts: 40 rule versions over every order.

Usage: .venv/bin/python -m bench.whatif_replay [--url sqlite:///... | postgresql://.../whatif_bench] [--orders 10000]
       [--flow]
Default: a fresh SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

import backend.models  # noqa: F401  (every table, for foreign keys)
from backend.auth.actor import Actor
from backend.bulk_insert import insert_rows
from backend.customers.models import Customer
from backend.db import make_engine
from backend.installation.service import installation_calendar
from backend.migrate import upgrade
from backend.orders.models import Order, OrderEvent
from backend.people.models import User
from backend.replay import service
from backend.rules.context import catalogue_for
from backend.rules.models import RuleDefinitionRow
from engine.replay.rules import replay
from engine.rules.definition import load_rule

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
STAGES = ("draft", "approval", "production", "shipping", "delivered")


def rules(variant: int) -> list[dict]:
    """20 rules; variant 1 is the draft (thresholds moved)."""
    k = 0.7 if variant else 1.0
    out = []
    for i, threshold in enumerate((20000, 50000, 80000, 120000, 150000)):
        out.append(("event", f"wb_amount_{i}", {">": [{"var": "amount"}, threshold * k]}, ["order_created", "field_changed"]))
    out.append(("event", "wb_prod_big", {"and": [{"==": [{"var": "stage"}, "production"]},
                                                  {">": [{"var": "amount"}, 60000 * k]}]}, ["stage_entered"]))
    out.append(("event", "wb_urged", {">=": [{"var": "urge_count"}, 1 if variant else 2]}, ["customer_urged"]))
    out.append(("event", "wb_shipping", {"==": [{"var": "stage"}, "shipping"]}, ["stage_entered"]))
    for i, (stage, hours) in enumerate((("approval", 24), ("production", 72), ("shipping", 48), ("draft", 12),
                                         ("approval", 48))):
        out.append(("time", f"wb_hours_{i}", {"and": [{"==": [{"var": "stage"}, stage]},
                                                      {">": [{"var": "hours_in_stage"}, hours * k]}]}, []))
    for i, (stage, hours) in enumerate((("approval", 16), ("production", 40), ("shipping", 24))):
        out.append(("time", f"wb_working_{i}", {"and": [{"==": [{"var": "stage"}, stage]},
                                                        {">=": [{"var": "working_hours_in_stage"}, hours * k]}]}, []))
    for i, days in enumerate((2, 5)):
        out.append(("time", f"wb_due_{i}", {"and": [{"!=": [{"var": "stage"}, "delivered"]},
                                                    {"!!": {"var": "planned_delivery"}},
                                                    {"<=": [{"var": "days_until_planned_delivery"}, days + variant]}]}, []))
    out.append(("time", "wb_old", {">": [{"var": "days_since_created"}, 10 - 3 * variant]}, []))
    out.append(("time", "wb_past_due", {"and": [{"!=": [{"var": "stage"}, "delivered"]},
                                                {"<": [{"var": "planned_delivery"}, {"today": [-variant]}]}]}, []))
    defs = []
    for kind, key, condition, events in out:
        trigger = {"kind": "event", "events": events} if kind == "event" else {"kind": "time"}
        defs.append({"key": key, "name": {"en": key}, "trigger": trigger, "condition": condition,
                     "actions": [{"type": "create_todo", "assignee": {"kind": "role", "role": "sales"},
                                  "title_template": {"en": "{{ order.number }}"}}]})
    return defs


def seed(engine, orders: int) -> Actor:
    rng = random.Random(14)
    stamp = time.time_ns()
    with Session(engine) as session:
        user = User(username=f"wb{stamp}", display_name="Bench", email=f"wb{stamp}@x.test", password_hash="x",
                    created_at=NOW)
        customer = Customer(code=f"WB{stamp}", name="Bench customer", created_at=NOW)
        session.add_all([user, customer])
        session.flush()
        order_rows, plans = [], []
        for n in range(orders):
            created = NOW - timedelta(days=28) + timedelta(seconds=rng.randrange(27 * 86400))
            amount = rng.choice((5000, 30000, 70000, 100000, 200000))
            moves, at = [], created
            for stage in STAGES[1:1 + rng.randrange(2, 5)]:
                at += timedelta(hours=rng.uniform(4, 120))
                if at >= NOW:
                    break
                moves.append((stage, at))
            stage = moves[-1][0] if moves else "draft"
            order_rows.append({
                "number": f"WB{stamp % 100000}-{n:06d}", "customer_id": customer.id, "owner_id": user.id,
                "amount": Decimal(amount + (10000 if n % 3 == 0 else 0)), "currency": "CNY", "stage": stage,
                "status": "open", "stage_entered_at": moves[-1][1] if moves else created,
                "planned_delivery": (created + timedelta(days=rng.randrange(5, 30))).date(), "source": "manual",
                "data": {}, "tags": [], "risk_flags": [], "urge_count": 1 if n % 5 == 0 else 0, "version": 1,
                "created_at": created, "updated_at": created})
            plans.append((created, amount, moves, n))
        ids = insert_rows(session, Order.__table__, order_rows, ids=True)
        events = []
        for order_id, (created, amount, moves, n) in zip(ids, plans, strict=True):
            events.append({"order_id": order_id, "type": "created", "at": created, "before": None,
                           "after": {"amount": str(amount), "stage": "draft", "status": "open", "data": {}}})
            previous = "draft"
            for stage, at in moves:
                events.append({"order_id": order_id, "type": "stage_entered", "at": at, "before": {"stage": previous},
                               "after": {"stage": stage}})
                previous = stage
            if n % 3 == 0:
                at = created + timedelta(hours=2)
                events.append({"order_id": order_id, "type": "updated", "at": at, "before": {"amount": str(amount)},
                               "after": {"amount": str(amount + 10000)}})
            if n % 5 == 0:
                events.append({"order_id": order_id, "type": "urged", "at": created + timedelta(hours=30),
                               "before": None, "after": {"urge_count": 1}})
        for i in range(0, len(events), 5000):
            insert_rows(session, OrderEvent.__table__, events[i:i + 5000])
        for published, draft in zip(rules(0), rules(1), strict=True):
            for version, status, definition in ((1, "published", published), (2, "draft", draft)):
                session.add(RuleDefinitionRow(key=definition["key"], version=version, status=status,
                                              definition={**definition, "version": version, "status": status},
                                              is_time_rule=definition["trigger"]["kind"] == "time",
                                              created_at=NOW, updated_at=NOW))
        session.commit()
        return Actor(user_id=user.id, username=user.username, display_name="Bench",
                     roles=frozenset({"admin", "designer"})), len(events)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=f"sqlite:///{tempfile.mkdtemp()}/whatif.db")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--flow", action="store_true", help="replay a changed flow instead of the rule set")
    args = parser.parse_args()
    upgrade(args.url)
    engine = make_engine(args.url)
    if args.flow:
        flow_main(engine, args.orders)
        return
    started = time.perf_counter()
    actor, events = seed(engine, args.orders)
    seeded = time.perf_counter() - started
    with Session(engine) as session:
        started, cpu = time.perf_counter(), time.process_time()
        result = service.what_if_rule_set(session, actor=actor, weeks=4, now=NOW, time_limit=600)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        # the measure: 10,000 orders x 20 rules, one version each (the drafts), engine only
        w = service.window(4, NOW)
        orders = list(service.timelines(session, service.order_ids(session, w, service.MAX_ORDERS)[0]))
        drafts = [load_rule(d) for d in rules(1)]
        one, one_cpu = time.perf_counter(), time.process_time()
        replay(drafts, orders, catalogue_for(session), calendar=installation_calendar(session), start=w.start,
               end=w.end)
        one, one_cpu = time.perf_counter() - one, time.process_time() - one_cpu
    print(json.dumps({
        "database": engine.dialect.name, "orders": result["orders"], "events": events,
        "rules": len(result["rules"]), "rule_versions_replayed": 2 * len(result["rules"]),
        "refused": result["refused"],
        "rule_errors": [r["key"] for r in result["rules"] if r["error_before"] or r["error_after"]], "truncated": result["truncated"], "evaluations": result["evaluations"],
        "seed_s": round(seeded, 1), "load_s": result["load_seconds"], "total_s": round(total, 2), "total_cpu_s": round(cpu, 2),
        "engine_20_rules_s": round(one, 2), "engine_20_rules_cpu_s": round(one_cpu, 2),
        "firings_published": sum(r["fired_before"] for r in result["rules"]),
        "firings_draft": sum(r["fired_after"] for r in result["rules"]),
    }, indent=2))


def flow_main(engine, orders: int) -> None:
    """The flow what-if: the published flow and its draft over every order that ran it, through
    `backend.replay.flows.flow_what_if` (reads, both replays, the comparison)."""
    from backend.replay import flows
    from bench.flow_whatif_seed import KEY, seed_flow

    started = time.perf_counter()
    who, events = seed_flow(engine, orders, NOW)
    seeded = time.perf_counter() - started
    actor = Actor(user_id=who["user_id"], username=who["username"], display_name="Bench",
                  roles=frozenset({"admin", "designer"}))
    with Session(engine) as session:
        started, cpu = time.perf_counter(), time.process_time()
        result = flows.flow_what_if(session, actor=actor, key=KEY, weeks=4, now=NOW, time_limit=600)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        # the engine alone: the draft replayed over the 10,000 recorded histories (one version)
        from backend.flows.directory import load_directory
        from engine.replay.flows import replay as replay_flow
        from engine.replay.flows import waits_of

        current, changed, _ = flows._definitions(session, KEY, None)
        w = service.window(4, NOW)
        histories = list(flows.histories(session, flows.instances(session, KEY, w, flows.MAX_ORDERS)[0]))
        directory = load_directory(session)
        one, one_cpu = time.perf_counter(), time.process_time()
        replay_flow(changed, histories, directory=directory, waits=waits_of(histories, [current, changed]), end=w.end)
        one, one_cpu = time.perf_counter() - one, time.process_time() - one_cpu
    print(json.dumps({
        "database": engine.dialect.name, "orders": result["orders"], "events": events,
        "truncated": result["truncated"], "engine_steps": result["engine_steps"],
        "seed_s": round(seeded, 1), "load_s": result["load_seconds"], "total_s": round(total, 2),
        "total_cpu_s": round(cpu, 2), "engine_draft_s": round(one, 2), "engine_draft_cpu_s": round(one_cpu, 2),
        "changed_paths": result["changed_paths_count"],
        "steps": {s["node_key"]: [s["now_reached_count"], s["now_skipped_count"]] for s in result["steps"]},
        "todos": {t["assignee"]: [t["before"], t["after"]] for t in result["todos"]},
        "estimates": result["estimates"], "outcomes": result["outcomes"], "stuck": result["stuck_count"],
        "total_hours": result["total"],
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
