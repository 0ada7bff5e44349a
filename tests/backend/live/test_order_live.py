"""Live order pages: a committed change of an order reaches the tabs showing it (SQLite: the
process's hub after commit; PostgreSQL: NOTIFY at commit, heard by every process's listener); a
rolled-back one reaches nobody; a socket for an order the user may not see is closed (1008)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from starlette.websockets import WebSocketDisconnect

from backend.auth import service as auth_service
from backend.db import make_engine, new_session
from backend.effects import apply_effects
from backend.live import orders as live_orders
from backend.live import publish
from backend.live.hub import Hub
from backend.live.orders import OrderHub, order_hub
from backend.live.pg import PgListener
from backend.orders import service as orders_service
from backend.orders.schemas import OrderUpdate
from backend.pipeline_assembly import assemble
from engine import effects as fx
from tests.backend.inbox.test_live import _Tab
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_user


class _OrderTab(_Tab):
    """A websocket's view of an order hub on its own loop (like a server process's socket)."""

    def __init__(self, a_hub: OrderHub, order_id: int):
        self.hub, self.order_id = a_hub, order_id
        super().__init__(_Adapter(a_hub, order_id), 0)


class _Adapter:
    """Gives `_Tab` the inbox hub's subscribe/get shape over an order hub's merged tab."""

    def __init__(self, a_hub: OrderHub, order_id: int):
        self.a_hub, self.order_id = a_hub, order_id

    def subscribe(self, _user_id):
        tab = self.a_hub.tab()
        self.a_hub.subscribe(tab, self.order_id)
        self.tab = tab

        class _Queue:
            async def get(_self):
                return await tab.next()
        return _Queue()

    def unsubscribe(self, _user_id, _queue):
        self.a_hub.unsubscribe(self.tab)


def _parts(received: list) -> set[str]:
    return {p for changes in received for parts in changes.values() for p in parts}


class TestOrderHub:
    def test_a_flood_is_merged_and_other_orders_hear_nothing(self):
        h = OrderHub()
        mine, other = _OrderTab(h, 1), _OrderTab(h, 2)
        try:
            for _ in range(500):
                h.publish({1: {"timeline"}})
            h.publish({1: {"flow"}})
            mine.wait_for(1)
            time.sleep(0.2)
            assert _parts(mine.received) == {"timeline", "flow"}
            assert len(mine.received) < 500  # merged while the tab was busy, not queued one by one
            assert other.received == []
        finally:
            mine.close()
            other.close()

    def test_notify_payloads_stay_small_and_decode_back(self):
        changes = {i: {"timeline", "flow"} for i in range(1, 2001)}
        payloads = live_orders.encode(changes)
        assert all(len(p) < live_orders.NOTIFY_LIMIT for p in payloads)
        back: dict = {}
        for p in payloads:
            back.update(live_orders.decode(json.loads(p)))
        assert back == changes
        with pytest.raises(ValueError):
            live_orders.decode({"o": "nope"})
        assert live_orders.decode({"o": [[1, "zzzt"], ["x", "t"], [2]]}) == {1: {"timeline"}}


def _change_amount(session, user, order, amount: str, now):
    actor = auth_service.load_actor(session, user.id)
    return orders_service.update_order(session, actor=actor, order_id=order.id, now=now, commit=False,
                                       payload=OrderUpdate(version=order.version, amount=amount))


class TestPublishAfterCommit:
    def test_sqlite_commit_publishes_the_changed_parts_and_rollback_nothing(self, session, now, db_url):
        if not db_url.startswith("sqlite"):
            pytest.skip("PostgreSQL publishes through NOTIFY (TestPgFanOut)")
        user = make_user(session)
        order = make_order(session, owner=user)
        session.commit()
        publish.listen()
        tab = _OrderTab(order_hub, order.id)
        try:
            _change_amount(session, user, order, "1234.00", now)
            time.sleep(0.1)
            assert tab.received == []  # flushed, not committed
            session.rollback()
            time.sleep(0.1)
            assert tab.received == []  # rolled back: nothing
            session.refresh(order)
            _change_amount(session, user, order, "2345.00", now)
            session.commit()
            tab.wait_for(1)
            assert {"head", "details", "timeline"} <= _parts(tab.received)
            tab.received.clear()
            apply_effects(session, [fx.CreateTodo(dedupe_key="live-order:1", kind="task", title="t",
                                                  assignee_ids=(user.id,))], order=order, actor=None, now=now)
            session.commit()
            assert "flow" in _parts(tab.wait_for(1))  # a to-do: the flow panel lists them
        finally:
            tab.close()


class TestPgFanOut:
    def test_a_commit_reaches_order_tabs_in_two_processes_and_a_rollback_none(self, db_url, now, tmp_path):
        if not db_url.startswith("postgresql"):
            pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
        from tests.conftest import make_test_database

        # its own database: what it commits must not show up in the other tests' counts
        db_url = make_test_database("postgresql", tmp_path, label="livefan")
        publish.listen()
        engine = assemble(make_engine(db_url))
        with new_session(engine) as s:  # committed before anyone listens: nobody hears of it
            user = make_user(s)
            order = make_order(s, owner=user)
            s.commit()
            order_id = order.id
        hubs = [OrderHub(), OrderHub()]  # two "server processes"
        listeners = [PgListener(db_url, Hub(), order_hub=h).start() for h in hubs]
        tabs = []
        try:
            for listener in listeners:
                assert listener.ready.wait(10)
            tabs = [_OrderTab(h, order_id) for h in hubs]
            from backend.orders.models import Order

            with new_session(engine) as s:  # a third process changes it, then thinks better of it
                _change_amount(s, user, s.get(Order, order_id), "777.00", now)
                s.flush()
                s.rollback()
            with new_session(engine) as s:
                _change_amount(s, user, s.get(Order, order_id), "778.00", now)
                s.commit()
            for t in tabs:
                # notifications arrive in commit order: had the rollback sent one, it would come first
                first = t.wait_for(1, timeout=20)[0]
                assert set(first) == {order_id} and {"head", "details", "timeline"} <= first[order_id]
        finally:
            for listener in listeners:
                listener.stop()
            for t in tabs:
                t.close()
            engine.dispose()


class TestSocketAccess:
    def test_an_order_i_may_not_see_closes_with_a_policy_code_and_no_data(self, client, session):
        me = make_user(session, username="live.me")
        other = make_user(session, username="live.other")
        mine, theirs = make_order(session, owner=me), make_order(session, owner=other)
        session.commit()
        with pytest.raises(WebSocketDisconnect) as closed, \
                client.websocket_connect(f"/ws/live/orders/{mine.id}") as ws:
            ws.receive_text()
        assert closed.value.code == 4401  # not signed in
        login(client, "live.me")
        with pytest.raises(WebSocketDisconnect) as closed, \
                client.websocket_connect(f"/ws/live/orders/{theirs.id}") as ws:
            ws.receive_text()
        assert closed.value.code == 1008
        with pytest.raises(WebSocketDisconnect) as closed, \
                client.websocket_connect(f"/ws/live/orders/{mine.id}",
                                         headers={"Origin": "http://evil.example"}) as ws:
            ws.receive_text()
        assert closed.value.code == 4401
        with client.websocket_connect(f"/ws/live/orders/{mine.id}") as ws:
            assert json.loads(ws.receive_text()) == {"hello": [mine.id]}
            ws.send_text(json.dumps({"subscribe": theirs.id}))  # sneaking in another's order
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008
        with client.websocket_connect(f"/ws/live/orders/{mine.id}") as ws:
            ws.receive_text()
            ws.send_text("x" * 5000)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1009

    def test_subscribed_socket_hears_a_committed_change(self, client, session, now, db_url):
        if not db_url.startswith("sqlite"):
            pytest.skip("the test app shares the rolled-back test transaction; PG fan-out is TestPgFanOut")
        me = make_user(session, username="live.sub")
        order = make_order(session, owner=me)
        session.commit()
        login(client, "live.sub")
        with client.websocket_connect(f"/ws/live/orders/{order.id}") as ws:
            assert json.loads(ws.receive_text()) == {"hello": [order.id]}
            _change_amount(session, me, order, "99.00", now)
            session.commit()
            message = json.loads(ws.receive_text())
            assert message["order"] == order.id and {"head", "timeline"} <= set(message["parts"])
            assert set(message) == {"order", "parts", "seq", "html"}
            # the parts it names, rendered for this user: the page swaps them in, no second request
            for part_id in ('id="orders-head"', 'id="orders-timeline-card"'):
                assert part_id in message["html"]
            assert "99.00" in message["html"] and message["html"].count('hx-swap-oob="true"') == len(message["parts"])

    def test_a_socket_whose_user_loses_the_order_is_closed_and_sent_nothing(self, client, session, now, db_url):
        if not db_url.startswith("sqlite"):
            pytest.skip("the test app shares the rolled-back test transaction; PG fan-out is TestPgFanOut")
        me = make_user(session, username="live.loses")
        other = make_user(session, username="live.gains")
        order = make_order(session, owner=me)
        session.commit()
        login(client, "live.loses")
        with client.websocket_connect(f"/ws/live/orders/{order.id}") as ws:
            assert json.loads(ws.receive_text()) == {"hello": [order.id]}
            order.owner_id = other.id  # handed to a colleague: no longer mine to see
            order.amount = Decimal("4242.00")
            session.add(order)
            session.commit()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008  # closed before anything of the order was sent

    def test_parts_too_large_to_push_are_named_for_the_page_to_re_read(self, client, session, now, db_url,
                                                                         monkeypatch):
        if not db_url.startswith("sqlite"):
            pytest.skip("the test app shares the rolled-back test transaction; PG fan-out is TestPgFanOut")
        from backend.live import order_socket

        monkeypatch.setattr(order_socket, "MAX_PUSH_HTML", 10)
        me = make_user(session, username="live.big")
        order = make_order(session, owner=me)
        session.commit()
        login(client, "live.big")
        with client.websocket_connect(f"/ws/live/orders/{order.id}") as ws:
            ws.receive_text()
            _change_amount(session, me, order, "77.00", now)
            session.commit()
            message = json.loads(ws.receive_text())
            assert set(message) == {"order", "parts", "seq"} and "head" in message["parts"]

    def test_part_routes_check_access_and_names(self, client, session):
        me = make_user(session, username="live.parts")
        other = make_user(session, username="live.parts2")
        mine, theirs = make_order(session, owner=me), make_order(session, owner=other)
        session.commit()
        login(client, "live.parts")
        assert 'id="orders-head"' in client.get(f"/orders/{mine.id}/live/head").text
        assert 'id="orders-timeline-card"' in client.get(f"/orders/{mine.id}/live/timeline").text
        assert 'id="orders-details"' in client.get(f"/orders/{mine.id}/live/details").text
        both = client.get(f"/orders/{mine.id}/live?parts=head,timeline,flow,messages").text
        for part_id in ('id="orders-head"', 'id="orders-timeline-card"', 'id="orders-flow"', 'id="orders-conversation"'):
            assert part_id in both
        assert both.count('hx-swap-oob="true"') == 4 and 'id="orders-details"' not in both
        assert client.get(f"/orders/{theirs.id}/live/head").status_code == 404
        assert client.get(f"/orders/{theirs.id}/live?parts=head").status_code == 404
        assert client.get(f"/orders/{mine.id}/live?parts=head,bogus").status_code == 404
        assert client.get(f"/orders/{mine.id}/live/secrets").status_code == 404
