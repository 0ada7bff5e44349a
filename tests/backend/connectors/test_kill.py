"""Issue 13: "a connector process killed mid-batch re-reads nothing twice and skips nothing (cursor
and rows commit together)" — with a real process and a real SIGKILL, on PostgreSQL.

A child `python -c` runs an HTTP JSON pull connector against a local source that pages by page
token, by page number or by offset (the last two filtered by `since`, as a source asked for what
changed since a time is). The child stops itself right after its N-th record committed — at a
page's end with one record a page, in the middle of a page of four (record by record, or in
batches of two) — and says so; the test then kills it with SIGKILL (no cleanup, no rollback
handler runs). After the dead holder's lease would have expired the connector runs again, with a
spy on the records handed to the runner's writer: it handles exactly the records the child did not
commit, each once (none processed again, none skipped), and every record made one order, created
once. The place inside the page rides in the cursor ("at", backend/connectors/page_position.py),
committed with the records it covers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
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
from tests.factories.http_server import LocalServer, QuietHandler
from tests.factories.people import make_user

ROOT = Path(__file__).resolve().parents[3]
TOTAL = 22
# the child: a real run that stops (blocks) right after its N-th record is committed, and says so
CHILD = """
import sys, time
from datetime import UTC, datetime
from backend.connectors import batch, runner
from backend.db import make_engine
from backend.pipeline_assembly import assemble
url, connector_id, batch_records, stop_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runner.BATCH_RECORDS = batch_records
committed = 0
def _count(n):
    global committed
    committed += n
    if committed >= stop_after:
        print("committed", committed, flush=True)
        time.sleep(3600)  # killed here
real_batch, real_record = batch.write_batch, runner._record
def write_batch(session, ctx, part):
    done = real_batch(session, ctx, part)
    if done:
        _count(len(part))
    return done
def record(*args, **kwargs):
    real_record(*args, **kwargs)
    _count(1)
batch.write_batch, runner._record = write_batch, record
engine = assemble(make_engine(url))
runner.run_connector(engine, connector_id, datetime.now(UTC), trigger="manual")
print("finished", committed, flush=True)
"""
TEMPLATES = {"cursor": "/orders?cursor={cursor}", "page": "/orders?page={page}&since={since}",
             "offset": "/orders?offset={offset}&since={since}"}


class PagedSource(LocalServer):
    """GET /orders?cursor=N | page=P | offset=O [&since=S]: `page_size` records (of those updated after
    S) from that place; a cursor answer names the next cursor."""

    def __init__(self, records: list[dict], page_size: int):
        super().__init__(_Handler)
        self.records, self.page_size = records, page_size
        self.requests: list[str] = []
        self.lock = threading.Lock()


class _Handler(QuietHandler):
    server: PagedSource

    def do_GET(self):
        src = self.server
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
        with src.lock:
            src.requests.append(self.path)
        since = query.get("since", "")
        matching = [r for r in src.records if r["updated"] > since] if since else src.records
        size = src.page_size
        if "page" in query:
            start = (int(query["page"]) - 1) * size
        else:
            start = int(query.get("cursor") or query.get("offset") or 0)
        items = matching[start:start + size]
        more = start + size < len(matching)
        self._json({"items": items, "next_cursor": str(start + size) if more else ""})


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    return make_test_database("postgresql", tmp_path_factory.mktemp("kill"), label="kill")


def _orders(engine, prefix: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT o.external_id, (SELECT count(*) FROM order_event e WHERE e.order_id = o.id AND e.type = 'created')"
            " FROM sales_order o WHERE o.source = :s AND o.external_id LIKE :p ORDER BY o.external_id"),
            {"s": "killsrc", "p": prefix + "%"})]


CASES = [  # (paging, page size, records a transaction in the child, records committed when killed)
    (paging, page_size, batch_records, stop_after)
    for paging in ("cursor", "page", "offset")
    for page_size, batch_records, stop_after in ((1, 1000, 5), (4, 1, 10))
] + [("cursor", 4, 2, 10), ("page", 4, 2, 6)]


@pytest.mark.parametrize(("paging", "page_size", "batch_records", "stop_after"), CASES)
def test_a_connector_killed_mid_page_reads_on_without_reading_twice_or_skipping(
        pg_url, paging, page_size, batch_records, stop_after, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", key)
    prefix = f"K{paging[0].upper()}{page_size}{batch_records}-"
    records = [{"id": f"{prefix}{i:02d}", "no": f"{prefix}{i:02d}", "updated": f"2026-11-20 10:{i:02d}",
                "buyer": {"code": "KC", "name": "买家K"}, "total": f"{100 + i}.00"} for i in range(TOTAL)]
    source = PagedSource(records, page_size).start()
    engine = assemble(make_engine(pg_url))
    child = None
    try:
        with new_session(engine) as session:
            user = make_user(session, roles=["admin"], locale="en")
            session.commit()
            admin = load_actor(session, user.id)
            body = ConnectorCreate.model_validate({
                "name": f"kill-{prefix}",
                "settings": {"url_template": f"{source.url}{TEMPLATES[paging]}",
                             "paging": paging, "records_path": "items", "next_cursor_path": "next_cursor",
                             "page_size": page_size if paging != "cursor" else 0, "since_path": "updated",
                             "rate_limit_per_second": 100},
                "mapping": {"columns": {"external_id": "id", "number": "no", "customer_code": "buyer.code",
                                        "customer": "buyer.name", "amount": "total"},
                            "create_customers": True, "source": "killsrc", "timezone": "Asia/Shanghai"},
                "schedule_minutes": 5})
            connector_id = service.create_connector(session, actor=admin, payload=body, now=datetime.now(UTC)).id
            session.commit()

        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, pg_url, str(connector_id), str(batch_records), str(stop_after)],
            cwd=ROOT, env={**os.environ, "GENDAN_CONNECTOR_KEY": key}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        said = child.stdout.readline()  # blocks until the child has committed its N records (or died)
        assert said.split() == ["committed", str(stop_after)], child.stderr.read()[-3000:]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        assert child.returncode == -signal.SIGKILL
        written = [ext for ext, _ in _orders(engine, prefix)]
        assert written == [r["id"] for r in records[:stop_after]]  # what the child committed, in order

        with engine.begin() as conn:  # the dead holder's lease as it is after its TTL
            conn.execute(sa.text("UPDATE worker_lease SET expires_at = :t WHERE name = :n"),
                         {"t": datetime.now(UTC) - timedelta(seconds=1), "n": f"connector:{connector_id}"})
            cursor = conn.execute(sa.text('SELECT "cursor" FROM connector WHERE id = :i'),
                                  {"i": connector_id}).scalar()
        # the place stored with the N-th record: inside the page it cut (or the next page's start)
        at = cursor["at"]
        page_index, done = divmod(stop_after, page_size)
        assert (at["page"], at["done"]) == (page_index + 1, done)
        assert at["id"] == (records[stop_after - 1]["id"] if done else "")
        assert cursor["since"] == records[stop_after - 1]["updated"]  # the newest time read ...
        if paging != "cursor":
            assert at["since"] == ""  # ... but the pages keep the numbering they were read with
        with source.lock:
            source.requests.clear()
        handled: list[str] = []
        real = runner._records
        monkeypatch.setattr(runner, "_records", lambda s, ctx, numbered: (
            handled.extend(record["id"] for _, record, _ in numbered), real(s, ctx, numbered))[1])
        run = runner.run_connector(engine, connector_id, datetime.now(UTC), trigger="manual")

        assert run is not None and run.status == "ok", run and run.error
        first = {"cursor": f"/orders?cursor={page_index * page_size}",
                 "page": f"/orders?page={page_index + 1}&since=",
                 "offset": f"/orders?offset={page_index * page_size}&since="}[paging]
        assert source.requests[0] == first  # the page the kill cut, asked as it was asked before
        # every record the child did not commit handled once, none it did handled again, none skipped
        assert handled == [r["id"] for r in records[stop_after:]]
        assert (run.read_count, run.created_count, run.unchanged_count, run.failed_count) == (
            TOTAL - stop_after, TOTAL - stop_after, 0, 0)
        assert _orders(engine, prefix) == [(r["id"], 1) for r in records]  # every record once, created once
        with engine.connect() as conn:
            after = conn.execute(sa.text('SELECT "cursor" FROM connector WHERE id = :i'),
                                 {"i": connector_id}).scalar()
        assert after["since"] == records[-1]["updated"]
        if paging == "cursor":  # a change feed keeps its last page, all of it written
            assert after["at"]["done"] == (TOTAL - 1) % page_size + 1 and after["at"]["id"] == records[-1]["id"]
        else:  # the source read to its end: the next run starts at the first page, with the newest since
            assert "at" not in after
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait(timeout=60)
        if child is not None:
            child.stdout.close()
            child.stderr.close()
        source.stop()
        engine.dispose()
