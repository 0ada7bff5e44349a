"""Issue 13: "a connector process killed mid-batch re-reads nothing twice and skips nothing (cursor
and rows commit together)" — with a real process and a real SIGKILL, on PostgreSQL.

A child `python -c` runs an HTTP JSON pull connector against a local source that pages by cursor and
slows down after its first pages; once some orders are committed the test kills the child with
SIGKILL (no cleanup, no rollback handler runs), then runs the connector again (after its lease would
have expired) and checks every record made exactly one order, created once, with nothing skipped.

The HTTP kind stores, with a page's last record, the token of the next page, so the run after a kill
asks the page the kill cut: its records written before the kill come out "unchanged" (no second
order, no event); with one record a page nothing is read twice (the SQL kind moves per record)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from backend.auth.service import load_actor
from backend.connectors import runner, service
from backend.connectors.schemas import ConnectorCreate
from backend.db import make_engine, new_session
from backend.pipeline_assembly import assemble
from tests.conftest import make_test_database
from tests.factories.people import make_user

ROOT = Path(__file__).resolve().parents[3]
TOTAL = 30
CHILD = """
import sys
from datetime import UTC, datetime
from backend.connectors import runner
from backend.db import make_engine
from backend.pipeline_assembly import assemble
engine = assemble(make_engine(sys.argv[1]))
runner.run_connector(engine, int(sys.argv[2]), datetime.now(UTC), trigger="manual")
"""


class SlowSource(ThreadingHTTPServer):
    """GET /orders?cursor=N answers `page_size` records from N; after `fast` requests each answer waits."""

    daemon_threads = True

    def __init__(self, records: list[dict], page_size: int, fast: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.records, self.page_size, self.fast = records, page_size, fast
        self.delay = 0.4
        self.requests: list[int] = []
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        pass  # the killed child leaves a broken pipe behind


class _Handler(BaseHTTPRequestHandler):
    server: SlowSource

    def log_message(self, *args):
        pass

    def do_GET(self):
        src = self.server
        start = int(parse_qs(urlsplit(self.path).query).get("cursor", ["0"])[0] or 0)
        with src.lock:
            src.requests.append(start)
            slow = len(src.requests) > src.fast
        if slow and src.delay:
            time.sleep(src.delay)
        items = src.records[start:start + src.page_size]
        more = start + src.page_size < len(src.records)
        body = json.dumps({"items": items, "next_cursor": str(start + src.page_size) if more else ""}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    return make_test_database("postgresql", tmp_path_factory.mktemp("kill"), label="kill")


def _orders(engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT o.external_id, (SELECT count(*) FROM order_event e WHERE e.order_id = o.id AND e.type = 'created')"
            " FROM sales_order o WHERE o.source = :s ORDER BY o.external_id"), {"s": "killsrc"})]


@pytest.mark.parametrize("page_size", [1, 4])
def test_a_connector_killed_mid_batch_reads_on_without_doubles_or_gaps(pg_url, page_size, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", key)
    records = [{"id": f"KILL{page_size}-{i:02d}", "no": f"KILL{page_size}-{i:02d}",
                "buyer": {"code": "KC", "name": "买家K"}, "total": f"{100 + i}.00"} for i in range(TOTAL)]
    source = SlowSource(records, page_size, fast=2)
    threading.Thread(target=source.serve_forever, daemon=True).start()
    engine = assemble(make_engine(pg_url))
    try:
        now = datetime.now(UTC)
        with new_session(engine) as session:
            user = make_user(session, roles=["admin"], locale="en")
            session.commit()
            admin = load_actor(session, user.id)
            body = ConnectorCreate.model_validate({
                "name": f"kill-{page_size}",
                "settings": {"url_template": f"http://127.0.0.1:{source.server_address[1]}/orders?cursor={{cursor}}",
                             "paging": "cursor", "records_path": "items", "next_cursor_path": "next_cursor",
                             "rate_limit_per_second": 100},
                "mapping": {"columns": {"external_id": "id", "number": "no", "customer_code": "buyer.code",
                                        "customer": "buyer.name", "amount": "total"},
                            "create_customers": True, "source": "killsrc", "timezone": "Asia/Shanghai"},
                "schedule_minutes": 5})
            connector = service.create_connector(session, actor=admin, payload=body, now=now)
            session.commit()
            connector_id = connector.id
        before = len(_orders(engine))

        child = subprocess.Popen([sys.executable, "-c", CHILD, pg_url, str(connector_id)], cwd=ROOT,
                                 env={**os.environ, "GENDAN_CONNECTOR_KEY": key},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(_orders(engine)) - before < 2 * page_size + 2:  # into the slow pages
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child made no orders"
            time.sleep(0.05)
        time.sleep(0.13 * page_size)  # land somewhere inside a page's records or a wait
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        written = [ext for ext, _ in _orders(engine) if ext.startswith(f"KILL{page_size}-")]
        assert 0 < len(written) < TOTAL, "the kill came too late to prove anything"
        assert written == [r["id"] for r in records[:len(written)]]  # in order, no gap

        with engine.begin() as conn:  # the dead holder's lease as it is after its TTL
            conn.execute(sa.text("UPDATE worker_lease SET expires_at = :t WHERE name = :n"),
                         {"t": datetime.now(UTC) - timedelta(seconds=1), "n": f"connector:{connector_id}"})
            cursor = conn.execute(sa.text('SELECT "cursor" FROM connector WHERE id = :i'), {"i": connector_id}).scalar()
        source.delay = 0
        with source.lock:
            source.requests.clear()
        run = runner.run_connector(engine, connector_id, datetime.now(UTC), trigger="manual")

        assert run is not None and run.status == "ok"
        token = int((cursor or {}).get("token") or 0)
        # the stored cursor asks the page after the last page whose records all committed
        assert token % page_size == 0 and token <= len(written) < token + page_size
        assert source.requests[0] == token  # reads on from the stored cursor, not from the start
        reread = len(written) - token  # only the records of the page the kill cut
        assert (run.created_count, run.unchanged_count, run.failed_count) == (TOTAL - len(written), reread, 0)
        if page_size == 1:
            assert reread == 0  # one record a page: nothing is read twice
        final = [row for row in _orders(engine) if row[0].startswith(f"KILL{page_size}-")]
        assert final == [(r["id"], 1) for r in records]  # every record once, created once
    finally:
        source.shutdown()
        source.server_close()
        engine.dispose()
