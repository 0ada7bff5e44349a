"""Logistics throughput: tracking pushes through the whole app, and the poll job against a local
Kuaidi100-shaped server.

    .venv/bin/python -m bench.logistics_push --shipments 500 --db sqlite
    .venv/bin/python -m bench.logistics_push --shipments 500 --db postgresql

A fresh migrated database, N open orders each with an active shipment, one tracking source. Then:
N pushes of a 10-event "in transit" feed (form param + MD5 sign, the aggregator's shape) through
`create_app` with Starlette's TestClient; the same N pushes again (every event known: nothing
stored); N polls by `poll_due` against tests/factories/tracking_source.py on localhost, the feed
now "signed" (each poll stores 2 new events and signs the order). Prints figures; a benchmark, not
a test (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os

# its own PostgreSQL database (fresh_database drops it): never another benchmark's that may be running
os.environ.setdefault("GENDAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/gendan_bench_logistics")
import platform
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

import backend.models  # noqa: F401
from backend.app import create_app
from backend.auth.passwords import hash_password
from backend.auth.service import load_actor
from backend.customers.models import Customer
from backend.db import make_engine, new_session
from backend.logistics import sources
from backend.logistics.models import Shipment, ShipmentEvent
from backend.orders.models import Order
from backend.people.models import User, UserRole
from backend.pipeline_assembly import assemble
from backend.settings import Settings
from bench.import_rows import NOW, fresh_database
from tests.factories.tracking_source import CUSTOMER, KEY, SALT, TrackingServer, push_form


def feed(n: int) -> list[tuple[str, str, str]]:
    return [(f"2026-12-0{1 + i // 4} {8 + i % 4:02d}:00:00", f"【转运中心 {i}】快件已发出 #{n}", "在途") for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=500)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    os.environ.setdefault("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    from fastapi.testclient import TestClient

    url = fresh_database(args.db)
    engine = assemble(make_engine(url))
    server = TrackingServer().start()
    with new_session(engine) as session:
        user = User(username="bench", display_name="Bench", email="bench@example.com",
                    password_hash=hash_password("password123"), created_at=NOW)
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role="admin"))
        customer = Customer(name="Bench customer", code="B1", created_at=NOW)
        session.add(customer)
        session.flush()
        ids = session.execute(insert(Order).returning(Order.id), [
            dict(number=f"LB{i:06d}", customer_id=customer.id, owner_id=user.id, amount=Decimal("100"), currency="CNY",
                 stage="shipping", status="open", stage_entered_at=NOW, source="bench", data={}, tags=[],
                 risk_flags=[], urge_count=0, version=1, created_at=NOW, updated_at=NOW)
            for i in range(args.shipments)]).scalars().all()
        session.execute(insert(Shipment), [
            dict(order_id=order_id, carrier="shunfeng", tracking_no=f"SFB{i:08d}", state="pending", is_active=True,
                 failures=0, next_poll_at=NOW + timedelta(days=1), created_at=NOW, updated_at=NOW)
            for i, order_id in enumerate(ids)])
        session.commit()
        source = sources.save_source(session, actor=load_actor(session, user.id), now=NOW, data=sources.SourceInput(
            name="bench", url=f"{server.url}/poll/query.do", customer=CUSTOMER, key=KEY, salt=SALT, poll_minutes=60))
        push_key = source.push_key
    app = create_app(Settings(DATABASE_URL=url, secret_key="bench-secret-0123456789", run_worker=False),
                     engine=engine, start_worker=False)
    print(f"# {platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, {args.db}, "
          f"{args.shipments} shipments")
    forms = [push_form(f"SFB{i:08d}", "0", feed(10)) for i in range(args.shipments)]
    with TestClient(app) as client:
        for label in ("push (10 new events each)", "push again (all known)"):
            began = time.perf_counter()
            for form in forms:
                resp = client.post(f"/api/v1/tracking-push/{push_key}", data=form)
                assert resp.status_code == 200, resp.text[:300]
            took = time.perf_counter() - began
            print(f"{label:>28}: {len(forms)} in {took:6.2f} s = {1000 * took / len(forms):6.2f} ms/push "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    for i in range(args.shipments):
        server.feeds[f"SFB{i:08d}"] = ("3", feed(10) + [("2026-12-04 10:00:00", "派送中", "派件"),
                                                        ("2026-12-04 15:00:00", "已签收", "签收")])
    began, polled, moment = time.perf_counter(), 0, NOW + timedelta(days=2)
    while True:
        done = sources.poll_due(engine, moment)
        if not done:
            break
        polled += done
    took = time.perf_counter() - began
    with new_session(engine) as session:
        events = session.execute(select(func.count()).select_from(ShipmentEvent)).scalar_one()
        signed = session.execute(select(func.count()).select_from(Order).where(Order.signed_at.is_not(None))).scalar_one()
    print(f"{'poll (2 new events, signed)':>28}: {polled} in {took:6.2f} s = {1000 * took / max(polled, 1):6.2f} ms/poll "
          f"(load {os.getloadavg()[0]:.2f}); {events} events stored, {signed} orders signed", flush=True)
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
