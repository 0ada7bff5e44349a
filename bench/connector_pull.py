"""Connector throughput: an HTTP JSON pull connector reading 100,000 records from a local server.

    .venv/bin/python -m bench.connector_pull                          # 100,000 records, PostgreSQL
    .venv/bin/python -m bench.connector_pull --records 20000 --db sqlite --page-size 500

A fresh, migrated database (as bench/import_rows.py), an admin owning an HTTP JSON connector with
cursor paging, and a real HTTP server on 127.0.0.1 (tests/factories/connector_source.py, a thread
in this process) serving the synthetic orders of bench/bulk_api.py in pages of `--page-size`
(5,000 customers by code, created on first sight, a tenth at `draft`). The run is the worker's
(`run_connector`: lease, pages, the set-based path a batch at a time, the cursor moved with each
batch); then a second run from the stored cursor re-reads from `--reread` ("re-read from"
clears the token) so every record comes back "unchanged". A benchmark, not a test; figures go
to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

import backend.models  # noqa: F401
from backend.auth.passwords import hash_password
from backend.auth.service import load_actor
from backend.connectors import runner, service
from backend.connectors.models import Connector
from backend.connectors.schemas import ConnectorCreate
from backend.db import make_engine, new_session
from backend.people.models import User, UserRole
from backend.pipeline_assembly import assemble
from bench.bulk_api import records as synthetic_records
from bench.import_rows import NOW, fresh_database
from bench.olist_history import backend_cpu
from tests.factories.connector_source import Source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=runner.BATCH_RECORDS, help="records per transaction (1: per record)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    args = parser.parse_args(argv)
    os.environ.setdefault("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    runner.BATCH_RECORDS = args.batch
    data = [{"id": r["external_id"], "buyer": {"code": r["customer_code"], "name": r["customer_name"]},
             "total": r["amount"], "delivery": r["planned_delivery"], "status": r["stage"]}
            for r in synthetic_records(args.records)]
    server = Source(data, page_size=args.page_size).start()
    url = fresh_database(args.db)
    engine = assemble(make_engine(url))
    with new_session(engine) as session:
        user = User(username="bench", display_name="Bench", email="bench@example.com",
                    password_hash=hash_password("password123"), created_at=NOW)
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role="admin"))
        session.commit()
        actor = load_actor(session, user.id)
        connector = service.create_connector(session, actor=actor, now=NOW, payload=ConnectorCreate.model_validate({
            "name": "bench", "schedule_minutes": 60,
            "settings": {"url_template": server.url + "/orders/cursor?cursor={cursor}", "paging": "cursor",
                         "records_path": "items", "next_cursor_path": "next_cursor", "rate_limit_per_second": 100,
                         "max_records_per_run": min(args.records, 100_000), "max_pages_per_run": 10_000,
                         "max_response_bytes": 50_000_000, "timeout_seconds": 120},
            "mapping": {"columns": {"external_id": "id", "customer_code": "buyer.code", "customer": "buyer.name",
                                    "amount": "total", "planned_delivery": "delivery", "stage": "status"},
                        "defaults": {"currency": "CNY"}, "create_customers": True, "source": "bench",
                        "timezone": "Asia/Shanghai"}}))
    print(f"# {platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, {args.db}, "
          f"pages of {args.page_size}, {args.batch} records per transaction")
    try:
        for label, at in (("first", NOW), ("again", NOW + timedelta(hours=1))):
            if label == "again":
                with new_session(engine) as session:
                    row = session.get(Connector, connector.id)
                    row.cursor = {}  # re-read from the start: every record comes back unchanged
                    session.commit()
            pg = backend_cpu(engine)
            began, cpu = time.perf_counter(), time.process_time()
            run = runner.run_connector(engine, connector.id, at, trigger="manual")
            took, cpu = time.perf_counter() - began, time.process_time() - cpu  # CPU: this process, server included
            after = backend_cpu(engine)
            pg = after - pg if after is not None and pg is not None else None
            assert run is not None and run.status == "ok", run and run.error
            print(f"{label:>6}: {run.read_count} records in {took:7.2f} s = {run.read_count / took:7.0f} records/s, "
                  f"{1000 * took / max(run.read_count, 1):5.2f} ms/record, process CPU {cpu:.1f} s"
                  + (f", PostgreSQL CPU {pg:.1f} s" if pg is not None else "") + f" (created {run.created_count}, "
                  f"updated {run.updated_count}, unchanged {run.unchanged_count}, failed {run.failed_count}; "
                  f"load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        server.stop()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
