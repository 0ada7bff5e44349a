"""Bulk API throughput: POST /api/v1/orders/bulk through the whole app (middleware, auth, JSON).

    .venv/bin/python -m bench.bulk_api                              # 100,000 orders in 10 requests, PostgreSQL
    .venv/bin/python -m bench.bulk_api --records 20000 --db sqlite

A fresh, migrated database (as bench/import_rows.py), the app from `create_app` driven by
Starlette's TestClient (in-process, no network), an admin's bearer token. The records are the
synthetic file's orders (5,000 customers by code, created on first sight, a tenth at `draft`), sent
as JSON arrays of `--per-request` records; then the same requests again (every record
"unchanged"). A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime

import backend.models  # noqa: F401
from backend.app import create_app
from backend.auth.passwords import hash_password
from backend.db import make_engine, new_session
from backend.people.models import User, UserRole
from backend.settings import Settings
from bench.import_rows import NOW, fresh_database
from bench.olist_history import backend_cpu


def records(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    stages = ["draft"] + ["production"] * 3 + ["shipping"] * 3 + ["delivered"] * 3
    out = []
    for i in range(count):
        c = rng.randrange(5000)
        out.append({"external_id": f"B{i:07d}", "source": "bench", "customer_code": f"C{c:05d}",
                    "customer_name": f"Customer {c}", "amount": f"{rng.randrange(100, 900000) / 100:.2f}",
                    "currency": "CNY", "planned_delivery": f"2027-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                    "stage": rng.choice(stages)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-request", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    args = parser.parse_args(argv)
    from fastapi.testclient import TestClient

    url = fresh_database(args.db)
    with new_session(make_engine(url)) as session:
        user = User(username="bench", display_name="Bench", email="bench@example.com",
                    password_hash=hash_password("password123"), created_at=NOW)
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role="admin"))
        session.commit()
    app = create_app(Settings(DATABASE_URL=url, secret_key="bench-secret-0123456789", run_worker=False),
                     start_worker=False)
    data = records(args.records)
    probe = make_engine(url)
    print(f"# {platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, {args.db}")
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", json={"username": "bench", "password": "password123"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        for label in ("first", "again"):
            pg = backend_cpu(probe)
            began, cpu = time.perf_counter(), time.process_time()
            counts: dict[str, int] = {}
            for start in range(0, len(data), args.per_request):
                resp = client.post("/api/v1/orders/bulk", json=data[start:start + args.per_request],
                                   params={"create_customers": "true"}, headers=headers)
                assert resp.status_code == 200, resp.text[:500]
                answer = resp.json()  # once: decoding the 10,000 results is the client's cost, not the app's
                for key in ("created", "updated", "unchanged", "failed"):
                    counts[key] = counts.get(key, 0) + answer[key]
            took, cpu = time.perf_counter() - began, time.process_time() - cpu  # CPU: client and app, one process
            after = backend_cpu(probe)  # the app's pooled connections serve the database
            pg = after - pg if after is not None and pg is not None else None
            print(f"{label:>6}: {len(data)} records in {took:7.2f} s = {len(data) / took:7.0f} records/s, "
                  f"{1000 * took / len(data):5.2f} ms/record, process CPU {cpu:.1f} s"
                  + (f", PostgreSQL CPU {pg:.1f} s " if pg is not None else " ") + f"{counts} (load {os.getloadavg()[0]:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
