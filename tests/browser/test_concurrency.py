"""Several requests at once on the embedded SQLite database, as a browser page makes them (the page,
its htmx badge and live socket, a form's keystroke evaluations): none may wait for another's lock.

Regression: every SQLite transaction began IMMEDIATE (the write lock), so page reads queued behind
each other, and an `async` handler waiting for the lock on the event loop stalled the request
holding it: pages hung for the 30 s busy timeout, then answered 500 "database is locked".
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def _signed_in_client(base_url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"csrf_token": token, "username": username, "password": "password123",
                                          "next": "/orders"})
    assert answer.status_code == 303, answer.text
    # the token changes at sign-in
    client.headers["X-CSRF-Token"] = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    return client


class TestConcurrentRequests:
    def test_reads_and_form_evaluations_at_once_all_answer_quickly(self, base_url, seed):
        rep = make_user(seed, username="conc.rep", roles=["sales"], locale="en")
        customer = make_customer(seed, name="Concurrent Works")
        orders = [make_order(seed, owner=rep, customer=customer, number=f"CONC-{i}") for i in range(5)]
        seed.commit()
        clients = [_signed_in_client(base_url, "conc.rep") for _ in range(4)]

        def call(i: int) -> tuple[int, float]:
            client = clients[i % len(clients)]
            started = time.monotonic()
            if i % 3 == 0:
                answer = client.post("/orders/new/evaluate", data={"customer_id": str(customer.id)},
                                     headers={"HX-Request": "true"})
            elif i % 3 == 1:
                answer = client.get(f"/orders/{orders[i % len(orders)].id}")
            else:
                answer = client.get("/orders")
            return answer.status_code, time.monotonic() - started

        try:
            with ThreadPoolExecutor(max_workers=12) as pool:
                results = list(pool.map(call, range(24)))
        finally:
            for client in clients:
                client.close()
        assert [status for status, _ in results if status >= 500] == []
        assert max(seconds for _, seconds in results) < 15, results


class TestNoDatabaseWaitOnTheEventLoop:
    """While another process holds SQLite's write lock, a request waiting for it must wait in a worker
    thread: the server keeps answering everything else (here: a static file) at once."""

    def _while_locked(self, live_engine, base_url, request) -> float:
        """Hold the write lock for 2 s; meanwhile send `request`, then time a static file."""
        from threading import Event, Thread

        locked, answers = Event(), []

        def hold() -> None:
            with live_engine.connect() as holder:
                holder.exec_driver_sql("UPDATE app_user SET display_name = display_name WHERE id < 0")
                locked.set()
                time.sleep(2)
                holder.rollback()

        holder = Thread(target=hold)
        holder.start()
        locked.wait(10)
        waiting = Thread(target=lambda: answers.append(request()))
        waiting.start()
        time.sleep(0.5)  # the request is now waiting for the lock
        started = time.monotonic()
        static = httpx.get(f"{base_url}/static/css/app.css", timeout=30)
        elapsed = time.monotonic() - started
        holder.join(30)
        waiting.join(30)
        assert static.status_code == 200 and answers and answers[0] < 500, answers
        return elapsed

    def test_signing_in_waits_off_the_event_loop(self, live_engine, base_url, seed):
        make_user(seed, username="conc.signin", roles=["sales"])
        seed.commit()
        client = httpx.Client(base_url=base_url, timeout=60)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)

        def sign_in() -> int:
            return client.post("/login", data={"csrf_token": token, "username": "conc.signin",
                                               "password": "password123"}).status_code

        assert self._while_locked(live_engine, base_url, sign_in) < 0.8
        client.close()
