"""Live order page latency: a change made through the API on server 1 → the order page (real
Chromium) on server N shows it, for one and for two `gendan serve` processes on PostgreSQL.

    .venv/bin/python -m bench.live_latency                 # N=200 changes, 1 and 2 servers
    .venv/bin/python -m bench.live_latency --changes 50 --servers 2

A fresh PostgreSQL database; an admin changes the order's amount with PATCH /api/v1/orders/{id}
(bearer token) on the first server; a watcher's page of the same order is open on the last server
(with the fallback poll made an hour long). A MutationObserver in the page records
`performance.timeOrigin + performance.now()` when the details show the new amount. Same machine,
same clock: the latency is taken from the moment the API call *returned* (the commit happened
before it: a lower bound of commit → DOM) and from the moment it was *sent* (an upper bound). A
pause of 150 ms between changes keeps the page's 100 ms coalescing out of the figures.
A benchmark, not a test; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import sync_playwright

import backend.models  # noqa: F401
from backend.auth.passwords import hash_password
from backend.customers.models import Customer
from backend.db import make_engine, new_session
from backend.migrate import upgrade
from backend.people.models import User, UserRole
from tests.browser.conftest import sign_in
from tests.browser.live_servers import server_processes

PG_URL = os.environ.get("GENDAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/gendan_bench_live")
CHROMIUM = os.environ.get("GENDAN_CHROMIUM", "/usr/bin/chromium")
OBSERVER = """(want) => {
  window.__want = want; window.__got = null; window.gendanLive.lastMessageAt = null;
  if (!window.__obs) {
    window.__obs = new MutationObserver(() => {
      if (window.__got !== null || !window.__want) return;
      const el = document.getElementById('orders-fields');
      if (el && el.textContent.includes(window.__want)) window.__got = performance.timeOrigin + performance.now();
    });
    window.__obs.observe(document.body, {childList: true, subtree: true, characterData: true});
  }
}"""


def fresh_database() -> str:
    admin_url = sa.engine.make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = admin_url.database
    admin = sa.create_engine(admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    upgrade(PG_URL)
    return PG_URL


def seed(url: str) -> int:
    engine = make_engine(url)
    with new_session(engine) as s:
        for name in ("bench", "watcher"):
            user = User(username=name, display_name=name.title(), email=f"{name}@example.com", locale="en",
                        password_hash=hash_password("password123"), created_at=datetime.now(UTC))
            s.add(user)
            s.flush()
            s.add(UserRole(user_id=user.id, role="admin"))
        customer = Customer(name="Live Bench Co", created_at=datetime.now(UTC))
        s.add(customer)
        s.commit()
        customer_id = customer.id
    engine.dispose()
    return customer_id


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run(servers: int, changes: int, data_dir: Path) -> dict:
    url = fresh_database()
    customer_id = seed(url)
    with server_processes(url, servers, data_dir=data_dir) as urls, sync_playwright() as pw:
        api = httpx.Client(base_url=urls[0], timeout=30)
        token = api.post("/api/v1/auth/token", json={"username": "bench", "password": "password123"}).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        order = api.post("/api/v1/orders", json={"customer_id": customer_id, "amount": "1.00"}).json()
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context()
        context.add_init_script("window.GENDAN_LIVE_FALLBACK_MS = 3600000;")
        page = context.new_page()
        sign_in(page, urls[-1], "watcher")
        page.goto(f"{urls[-1]}/orders/{order['id']}")
        page.wait_for_function("window.gendanLive && window.gendanLive.state === 'live'", timeout=60000)
        version, after_return, after_send, push, refetch = order["version"], [], [], [], []
        for i in range(changes):
            amount = 10000 + i
            page.evaluate(OBSERVER, f"{amount:,.2f}")
            sent = time.time() * 1000
            r = api.patch(f"/api/v1/orders/{order['id']}", json={"version": version, "amount": f"{amount}.00"})
            returned = time.time() * 1000
            r.raise_for_status()
            version = r.json()["version"]
            page.wait_for_function("window.__got !== null", timeout=30000)
            got, message = page.evaluate("[window.__got, window.gendanLive.lastMessageAt]")
            after_return.append(got - returned)
            if message is not None:
                push.append(message - returned)  # API returned → the socket's message in the page
                refetch.append(got - message)  # that message → the re-read parts in the DOM
            after_send.append(got - sent)
            time.sleep(0.15)
        polls = page.evaluate("window.gendanLive.polls")
        browser.close()
    return {"servers": servers, "n": changes, "polls": polls,
            "return_p50": pct(after_return, 50), "return_p99": pct(after_return, 99),
            "send_p50": pct(after_send, 50), "send_p99": pct(after_send, 99),
            "api_p50": statistics.median(s - r for s, r in zip(after_send, after_return, strict=True)),
            "push_p50": pct(push, 50), "push_p99": pct(push, 99),
            "refetch_p50": pct(refetch, 50), "refetch_p99": pct(refetch, 99)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--servers", type=int, choices=(1, 2), action="append")
    args = parser.parse_args(argv)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}")
    for servers in args.servers or [1, 2]:
        res = run(servers, args.changes, Path(tempfile.mkdtemp(prefix="gendan-live-bench-")))
        print(f"{res['servers']} server(s), {res['n']} changes (fallback polls: {res['polls']}): "
              f"commit→DOM after the API call returned p50 {res['return_p50']:.1f} ms, p99 {res['return_p99']:.1f} ms; "
              f"after it was sent p50 {res['send_p50']:.1f} ms, p99 {res['send_p99']:.1f} ms "
              f"(the API call itself: p50 {res['api_p50']:.1f} ms)")
        print(f"    of which: API returned → websocket message p50 {res['push_p50']:.1f} ms, "
              f"p99 {res['push_p99']:.1f} ms; message → DOM (re-read parts) p50 {res['refetch_p50']:.1f} ms, "
              f"p99 {res['refetch_p99']:.1f} ms")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
