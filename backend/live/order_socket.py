"""The websocket an order page keeps open: `/ws/live/orders/{order_id}`.

Access is checked when the socket opens and for every further order it subscribes to: an order
the user may not see closes the socket with 1008 (policy violation) before anything is sent. The
socket then carries small JSON messages, `{"order": 12, "parts": ["flow", "timeline"], "seq": 3}`;
the page re-reads those parts over HTTP (each read checks access again), so a message holds no
order data. A page may also send `{"subscribe": id}` / `{"unsubscribe": id}` (at most
MAX_SUBSCRIPTIONS orders per socket, MAX_INBOUND characters per message: more closes it with 1008
or 1009).
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from backend.db import new_session
from backend.errors import GendanError
from backend.live.orders import order_hub
from backend.live.router import _load_actor, _same_origin

router = APIRouter(include_in_schema=False)

MAX_SUBSCRIPTIONS = 20
MAX_INBOUND = 256
POLICY, TOO_BIG, UNAUTHENTICATED = 1008, 1009, 4401


def _may_see(bind, actor, order_id: int) -> bool:
    """In a worker thread (never block the loop on the database)."""
    from backend.orders.access import get_visible_order

    with new_session(bind, writes=False) as session:
        try:
            get_visible_order(session, actor, order_id)
        except GendanError:
            return False
        return True


@router.websocket("/ws/live/orders/{order_id}")
async def live_order(websocket: WebSocket, order_id: int) -> None:
    await websocket.accept()  # accepted first, so that the page reads why it is closed
    user_id = websocket.session.get("uid") if "session" in websocket.scope else None
    if user_id is None or not _same_origin(websocket):
        await websocket.close(code=UNAUTHENTICATED)
        return
    bind = websocket.app.state.engine
    actor = await asyncio.to_thread(_load_actor, bind, int(user_id), websocket.session.get("sid"))
    if actor is None:
        await websocket.close(code=UNAUTHENTICATED)
        return
    if not await asyncio.to_thread(_may_see, bind, actor, order_id):
        await websocket.close(code=POLICY)
        return
    tab = order_hub.tab()
    orders = {order_id}
    order_hub.subscribe(tab, order_id)

    async def pump() -> None:
        await websocket.send_text(json.dumps({"hello": sorted(orders)}))
        while True:
            changes = await tab.next()
            for oid, parts in changes.items():
                if oid in orders:
                    await websocket.send_text(json.dumps(
                        {"order": oid, "parts": sorted(parts), "seq": next(order_hub.seq)}))

    sender = asyncio.create_task(pump())
    try:
        while True:
            raw = await websocket.receive_text()
            code = await _command(bind, actor, tab, orders, raw)
            if code:
                await websocket.close(code=code)
                break
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        order_hub.unsubscribe(tab)


async def _command(bind, actor, tab, orders: set[int], raw: str) -> int | None:
    """A page's (un)subscribe; returns a close code when the socket must close."""
    if len(raw) > MAX_INBOUND:
        return TOO_BIG
    try:
        data = json.loads(raw)
    except ValueError:
        return POLICY
    if not isinstance(data, dict):
        return POLICY
    if isinstance(data.get("unsubscribe"), int):
        orders.discard(data["unsubscribe"])
        order_hub.unsubscribe(tab, data["unsubscribe"])
        return None
    wanted = data.get("subscribe")
    if not isinstance(wanted, int) or isinstance(wanted, bool):
        return None if data.get("ping") else POLICY
    if wanted in orders:
        return None
    if len(orders) >= MAX_SUBSCRIPTIONS or not await asyncio.to_thread(_may_see, bind, actor, wanted):
        return POLICY
    orders.add(wanted)
    order_hub.subscribe(tab, wanted)
    return None
