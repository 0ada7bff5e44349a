"""Seeding for the flow half of bench/whatif_replay.py (`--flow`): a published B2B-like flow and a
changed draft, and `--orders` orders that ran the published version over the last four weeks, with
the flow history a real run leaves (the engine driven in memory with people deciding after random
waits) and the order events of their field changes."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal

from sqlmodel import Session

from backend.bulk_insert import insert_rows
from backend.customers.models import Customer
from backend.flows.models import FlowDefinitionRow, FlowInstance
from backend.orders.models import Order, OrderEvent
from backend.people.models import Department, User, UserRole
from engine.flows import StaticDirectory
from engine.flows.definition import load_definition
from engine.flows.events import Approve, CompleteTask, Reject, Start
from engine.flows.state import FlowState
from engine.flows.step import step

KEY = "bench_order"


def flow(variant: int, ids: dict[str, int]) -> dict:
    """variant 0: published (director from 100,000); 1: the draft (director from 50,000, and a new
    finance check before shipping for orders from 150,000)."""
    nodes = [
        {"type": "start", "key": "start"},
        {"type": "approval", "key": "manager", "name": {"en": "Manager"},
         "assignees": [{"kind": "manager_chain", "levels": 1}],
         "time_limit": {"hours": 8, "unit": "working_hours", "on_timeout": "remind"}},
        {"type": "exclusive", "key": "big"},
        {"type": "approval", "key": "director", "name": {"en": "Director"},
         "assignees": [{"kind": "role", "role": "approver"}]},
        {"type": "task", "key": "production", "name": {"en": "Production"},
         "assignees": [{"kind": "users", "user_ids": [ids["warehouse"]]}]},
        {"type": "task", "key": "ship", "name": {"en": "Ship"},
         "assignees": [{"kind": "role", "role": "warehouse"}], "required_fields": ["data.tracking_no"]},
        {"type": "end", "key": "end"},
    ]
    edges = [
        {"key": "e1", "source": "start", "target": "manager"},
        {"key": "e2", "source": "manager", "target": "big"},
        {"key": "e_big", "source": "big", "target": "director",
         "condition": {">=": [{"var": "amount"}, 50000 if variant else 100000]}},
        {"key": "e_small", "source": "big", "target": "production", "is_default": True},
        {"key": "e4", "source": "director", "target": "production"},
        {"key": "e6", "source": "ship", "target": "end"},
    ]
    if variant:
        nodes += [{"type": "exclusive", "key": "money"},
                  {"type": "approval", "key": "finance", "name": {"en": "Finance check"},
                   "assignees": [{"kind": "role", "role": "finance"}]}]
        edges += [{"key": "e5", "source": "production", "target": "money"},
                  {"key": "e_fin", "source": "money", "target": "finance",
                   "condition": {">=": [{"var": "amount"}, 150000]}},
                  {"key": "e_nofin", "source": "money", "target": "ship", "is_default": True},
                  {"key": "e7", "source": "finance", "target": "ship"}]
    else:
        edges.append({"key": "e5", "source": "production", "target": "ship"})
    return {"key": KEY, "name": {"en": "Bench order flow"}, "nodes": nodes, "edges": edges}


def seed_flow(engine, orders: int, now) -> tuple[dict, int]:
    rng = random.Random(14)
    stamp = time.time_ns()
    with Session(engine) as session:
        def user(name, role):
            u = User(username=f"fb{name}{stamp}", display_name=name, email=f"fb{name}{stamp}@x.test",
                     password_hash="x", created_at=now)
            session.add(u)
            session.flush()
            session.add(UserRole(user_id=u.id, role=role))
            return u

        boss, rep = user("boss", "sales"), user("rep", "sales")
        approvers = [user("dir1", "approver"), user("dir2", "approver")]
        warehouse, finance = user("wh", "warehouse"), user("fin", "finance")
        dept = Department(name=f"Sales {stamp}", head_id=boss.id)
        session.add(dept)
        session.flush()
        rep.department_id = dept.id
        admin = user("admin", "admin")
        session.add(UserRole(user_id=admin.id, role="designer"))
        customer = Customer(code=f"FB{stamp}", name="Bench customer", created_at=now)
        session.add(customer)
        session.flush()
        ids = {"warehouse": warehouse.id}
        rows = {}
        for version, status, variant in ((1, "published", 0), (2, "draft", 1)):
            definition = load_definition({**flow(variant, ids), "version": version}).to_json()
            row = FlowDefinitionRow(key=KEY, version=version, status=status, definition=definition,
                                    created_at=now, updated_at=now)
            session.add(row)
            rows[status] = row
        session.flush()
        published = load_definition(rows["published"].definition)
        directory = StaticDirectory(roles={"approver": tuple(a.id for a in approvers), "warehouse": (warehouse.id,),
                                           "finance": (finance.id,), "admin": (admin.id,)},
                                    managers={rep.id: boss.id})
        order_rows, plans = [], []
        for n in range(orders):
            created = now - timedelta(days=28) + timedelta(seconds=rng.randrange(27 * 86400))
            amount = rng.choice((5000, 30000, 70000, 100000, 200000))
            order_rows.append({
                "number": f"FB{stamp % 100000}-{n:06d}", "customer_id": customer.id, "owner_id": rep.id,
                "amount": Decimal(amount), "currency": "CNY", "stage": "approval", "status": "open",
                "stage_entered_at": created, "source": "manual", "data": {}, "tags": [], "risk_flags": [],
                "urge_count": 0, "version": 1, "created_at": created, "updated_at": created})
            plans.append((created, amount))
        order_ids = insert_rows(session, Order.__table__, order_rows, ids=True)
        events, instances = [], []
        for order_id, (created, amount) in zip(order_ids, plans, strict=True):
            facts = {"amount": float(amount), "data": {}}
            state = step(published, FlowState(), Start(initiator_id=rep.id), created, directory=directory,
                         facts=facts).state
            at = created
            events.append({"order_id": order_id, "type": "created", "at": created, "before": None,
                           "after": {"amount": str(amount), "stage": "approval", "status": "open", "data": {}}})
            for _ in range(10):
                pending = state.pending_tasks()
                if not pending or state.status != "running":
                    break
                task = pending[0]
                at = at + timedelta(hours=rng.expovariate(1 / {"manager": 6, "director": 20, "production": 60,
                                                                "ship": 24}[task.node_key]))
                if at >= now:
                    break
                if task.node_key == "ship":
                    facts = {**facts, "data": {"tracking_no": f"T{order_id}"}}
                    events.append({"order_id": order_id, "type": "updated", "at": at,
                                   "before": {"data.tracking_no": None}, "after": {"data.tracking_no": f"T{order_id}"}})
                if task.kind == "approval":
                    event = (Reject if rng.random() < 0.03 else Approve)(actor_id=task.assignee_id, task_id=task.id)
                else:
                    event = CompleteTask(actor_id=task.assignee_id, task_id=task.id)
                state = step(published, state, event, at, directory=directory, facts=facts).state
            instances.append({"order_id": order_id, "definition_id": rows["published"].id, "flow_key": KEY,
                              "flow_version": 1, "status": state.status, "state": state.to_json(), "version": 1,
                              "started_by_id": rep.id, "created_at": created, "updated_at": at})
        for i in range(0, len(events), 5000):
            insert_rows(session, OrderEvent.__table__, events[i:i + 5000])
        for i in range(0, len(instances), 2000):
            insert_rows(session, FlowInstance.__table__, instances[i:i + 2000])
        session.commit()
        return {"user_id": admin.id, "username": admin.username}, len(events)
