"""Benchmark: the worker's time-rule scan (backend/rules/tasks.py:scan_time_rules) at 1,000,000 open
orders in PostgreSQL with 100 enabled time rules, in steady state.

Steady state: the rules have been watching for a while. Seeding it by firing 12.8 M alerts through
the worker would take hours, so this seeds what those scans would have left, in SQL: every
(rule, order) match one minute before NOW has a fired `rule_order_state` row (episode 1, active)
and every order its match words (`rule_order_mask`), computed by the scan's own query. Then it
times `scan_time_rules` at NOW (the orders whose conditions changed during that minute fire: real
firings with their effects) and again one minute later, and the scan's one query on its own.

Usage: .venv/bin/python bench/rules_worker.py [--orders 1000000] [--reseed]
Reuses the database of bench/rules_scan.py (gendan_rules_bench; seeding orders takes ~2 min, the
states ~5 min).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, insert, literal, select, text, update
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rules_scan as data  # noqa: E402  (the same orders and the same 100 conditions)

from backend.db import new_session  # noqa: E402
from backend.forms.models import FormDefinitionRow  # noqa: E402
from backend.rules import scan, tasks  # noqa: E402
from backend.rules.context import catalogue_for, fact_context  # noqa: E402
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderMask, RuleOrderState  # noqa: E402
from engine.rules.definition import RuleDefinition  # noqa: E402

SEEDED_AT = data.NOW - timedelta(minutes=1)
FORM = {"key": "bench", "fields": [{"key": "incoterm", "type": "text"}, {"key": "weight", "type": "number"},
                                   {"key": "rush", "type": "checkbox"}]}


def rule_definitions() -> list[dict]:
    out = []
    for i, (logic, _) in enumerate(data.rules()):
        rule = RuleDefinition(key=f"bench_{i:03d}", status="published", enabled=True, name={"en": f"Bench {i}"},
                              trigger={"kind": "time"}, condition=logic,
                              actions=({"type": "add_risk_flag", "flag": f"bench_{i % 10}"},))
        out.append(rule.model_dump(mode="json"))
    return out


def seed_steady_state(engine, reseed: bool) -> None:
    with Session(engine) as session:
        have = session.exec(select(func.count()).select_from(RuleDefinitionRow)).scalar_one()
        if have == 100 and not reseed:
            return
        print("seeding rules, states and match words ...", flush=True)
        started = time.perf_counter()
        for table in (RuleFiring, RuleOrderState, RuleOrderMask, RuleDefinitionRow, FormDefinitionRow):
            session.execute(delete(table))
        session.execute(text("UPDATE sales_order SET risk_flags = '[]'::jsonb WHERE risk_flags <> '[]'::jsonb"))
        session.add(FormDefinitionRow(key="bench", version=1, status="published", definition=FORM,
                                      created_at=data.NOW, updated_at=data.NOW))
        for i, definition in enumerate(rule_definitions()):
            session.add(RuleDefinitionRow(key=definition["key"], version=1, status="published", definition=definition,
                                          enabled=True, is_time_rule=True, scan_slot=i, scan_ready=True,
                                          last_scan_at=SEEDED_AT, created_at=SEEDED_AT, updated_at=SEEDED_AT))
        session.commit()
    plan = store_words(engine)
    with new_session(engine) as session:
        for r in plan.rules:
            matched = select(data.ORDER.c.id, literal(r.rule.key), literal(1), literal(True), literal(SEEDED_AT),
                             literal(1)).where(r.match)
            session.execute(insert(RuleOrderState.__table__).from_select(
                ["order_id", "rule_key", "episode", "active", "last_fired_at", "fired_count"], matched))
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE rule_order_state"))
        conn.execute(text("VACUUM ANALYZE rule_order_mask"))
    print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)


def reset_to_seed(engine) -> None:
    """Undo earlier timed scans, so every run starts from the same minute."""
    with Session(engine) as session:
        fired = session.exec(select(RuleFiring.order_id, RuleFiring.rule_key)).all()
        if fired:
            print(f"undoing {len(fired)} firings of an earlier run ...", flush=True)
            session.execute(text("DELETE FROM inbox_item WHERE source = 'rule'"))
            session.execute(text("DELETE FROM order_event WHERE actor_id IS NULL AND type LIKE 'risk%'"))
            session.execute(delete(RuleFiring))
            session.execute(delete(RuleOrderState).where(RuleOrderState.last_fired_at > SEEDED_AT))
            session.execute(update(RuleOrderState).where(RuleOrderState.active.is_(False)).values(active=True))
            session.execute(text("UPDATE sales_order SET risk_flags = '[]'::jsonb WHERE risk_flags <> '[]'::jsonb"))
        session.execute(update(RuleDefinitionRow).values(last_scan_at=SEEDED_AT, scan_ready=True))
        session.commit()
    store_words(engine)


def store_words(engine) -> scan.Plan:
    """Every order's match words as a scan a minute before NOW left them (the scan's own query)."""
    with new_session(engine) as session:
        session.execute(delete(RuleOrderMask))
        rows = scan.assign_slots(session)
        plan = scan.build_plan(rows, catalogue_for(session), fact_context(SEEDED_AT))
        words = scan.changed_orders_query(plan).subquery()
        session.execute(text("SET LOCAL jit = off"))
        session.execute(insert(RuleOrderMask.__table__).from_select(["order_id", "words"],
                                                                    select(words.c[0], words.c[1])))
        session.commit()
    return plan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    engine = data.prepare(args.orders)
    seed_steady_state(engine, args.reseed)
    reset_to_seed(engine)
    results: dict[str, float | int] = {"orders": args.orders, "rules": 100}
    with Session(engine) as session:
        results["states"] = session.exec(select(func.count()).select_from(RuleOrderState)).scalar_one()
        results["orders_with_matches"] = session.exec(select(func.count()).select_from(RuleOrderMask)).scalar_one()

    with new_session(engine) as session:
        rows = scan.assign_slots(session)
        plan = scan.build_plan(rows, catalogue_for(session), fact_context(data.NOW))
        started = time.perf_counter()
        changed = scan.changed_orders(session, plan)
        results["one_query_s"] = time.perf_counter() - started
        results["changed_orders"] = len(changed)
        session.rollback()

    for label, now in (("scan", data.NOW), ("next_scan", data.NOW + timedelta(minutes=1))):
        started = time.perf_counter()
        results[f"{label}_firings"] = tasks.scan_time_rules(engine, now)
        results[f"{label}_s"] = time.perf_counter() - started
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
