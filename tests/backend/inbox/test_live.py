"""Live updates: the hub, the websocket, and PostgreSQL LISTEN/NOTIFY fan-out between processes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import text
from starlette.websockets import WebSocketDisconnect

from backend.db import make_engine, new_session
from backend.effects import apply_effects
from backend.live import publish
from backend.live.hub import Hub, hub
from backend.live.pg import PgListener
from engine import effects as fx
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_user


class _Tab:
    """A subscriber on its own event loop thread, like a websocket in a server process."""

    def __init__(self, a_hub: Hub, user_id: int):
        self.received: list = []
        self.loop = asyncio.new_event_loop()
        self.stop = None
        ready = threading.Event()

        async def main():
            queue = a_hub.subscribe(user_id)
            self.stop = asyncio.Event()
            ready.set()
            try:
                while not self.stop.is_set():
                    getter = asyncio.ensure_future(queue.get())
                    stopper = asyncio.ensure_future(self.stop.wait())
                    done, pending = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    for task in pending:
                        task.cancel()
                    if getter in done:
                        self.received.append(getter.result())
            finally:
                a_hub.unsubscribe(user_id, queue)

        def run():
            self.loop.run_until_complete(main())
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(5)

    def wait_for(self, n: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(5)


class TestHub:
    def test_publish_reaches_only_that_users_tabs_from_any_thread(self):
        h = Hub()
        mine, other = _Tab(h, 1), _Tab(h, 2)
        try:
            threading.Thread(target=h.publish, args=([1], "inbox")).start()
            assert [m.kind for m in mine.wait_for(1)] == ["inbox"]
            time.sleep(0.1)
            assert other.received == []
            assert h.subscriber_count(1) == 1
        finally:
            mine.close()
            other.close()


class TestPublishAfterCommit:
    def test_sqlite_publishes_only_after_commit_and_never_after_rollback(self, session, now, db_url):
        if not db_url.startswith("sqlite"):
            pytest.skip("PostgreSQL publishes through NOTIFY (TestPgFanOut)")
        user = make_user(session)
        order = make_order(session, owner=user)
        session.commit()
        publish.listen()
        tab = _Tab(hub, user.id)
        try:
            apply_effects(session, [fx.CreateTodo(dedupe_key="live:1", kind="task", title="t",
                                                  assignee_ids=(user.id,))], order=order, actor=None, now=now)
            time.sleep(0.1)
            assert tab.received == []  # not yet committed
            session.rollback()
            time.sleep(0.1)
            assert tab.received == []
            apply_effects(session, [fx.CreateTodo(dedupe_key="live:2", kind="task", title="t",
                                                  assignee_ids=(user.id,))], order=order, actor=None, now=now)
            session.commit()
            assert [m.kind for m in tab.wait_for(1)] == ["inbox"]
        finally:
            tab.close()


class TestPgFanOut:
    def test_a_commit_in_one_process_reaches_tabs_in_every_process(self, db_url):
        if not db_url.startswith("postgresql"):
            pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
        # two "server processes": each with its own hub and its own listener connection
        hub_a, hub_b = Hub(), Hub()
        listeners = [PgListener(db_url, hub_a).start(), PgListener(db_url, hub_b).start()]
        tab_a, tab_b = _Tab(hub_a, 4242), _Tab(hub_b, 4242)
        engine = make_engine(db_url)
        try:
            for listener in listeners:
                assert listener.ready.wait(10)
            # a third process (a worker) commits a change touching user 4242
            with new_session(engine) as s:
                publish.touch(s, [4242], "inbox")
                s.rollback()  # rolled back: nobody hears of it
            with new_session(engine) as s:
                publish.touch(s, [4242], "notification")
                s.execute(text("SELECT 1"))
                s.commit()
            assert [m.kind for m in tab_a.wait_for(1)] == ["notification"]
            assert [m.kind for m in tab_b.wait_for(1)] == ["notification"]
        finally:
            for listener in listeners:
                listener.stop()
            tab_a.close()
            tab_b.close()
            engine.dispose()


class TestWebsocket:
    def test_signed_in_page_gets_a_signal_after_a_commit(self, client, session, now, db_url):
        if not db_url.startswith("sqlite"):
            pytest.skip("the test app shares the rolled-back test transaction; PG fan-out is TestPgFanOut")
        user = make_user(session, username="ws.user")
        order = make_order(session, owner=user)
        session.commit()
        login(client, "ws.user")
        with client.websocket_connect("/ws/live") as ws:
            deadline = time.monotonic() + 60  # the loop ends as soon as the socket subscribed
            while hub.subscriber_count(user.id) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            apply_effects(session, [fx.Notify(dedupe_key="ws:1", user_ids=(user.id,), title="hello")],
                          order=order, actor=None, now=now)
            session.commit()
            message = ws.receive_text()
            assert 'id="live-signal"' in message and 'hx-swap-oob="true"' in message
            assert 'data-kind="inbox"' in message

    def test_anonymous_and_cross_site_sockets_are_closed(self, client, session):
        make_user(session, username="ws.user2")
        session.commit()
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws/live") as ws:
            ws.receive_text()
        assert closed.value.code == 4401
        login(client, "ws.user2")
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(
                "/ws/live", headers={"Origin": "http://evil.example"}) as ws:
            ws.receive_text()
        assert closed.value.code == 4401


class TestListenerLifecycle:
    def test_an_app_on_postgresql_listens_while_it_runs(self, db_url, settings):
        if not db_url.startswith("postgresql"):
            pytest.skip("only a PostgreSQL engine needs the listener")
        from fastapi.testclient import TestClient

        from backend.app import create_app

        engine = make_engine(db_url)
        try:
            app = create_app(settings, engine=engine, start_worker=False)
            with TestClient(app):
                names = [t.name for t in threading.enumerate()]
                assert "gendan-live-listen" in names
            time.sleep(0.2)
            assert "gendan-live-listen" not in [t.name for t in threading.enumerate() if t.is_alive()]
        finally:
            engine.dispose()
