"""The websocket an order page keeps open: `/ws/live/orders/{order_id}`.

Access is checked when the socket opens and for every further order it subscribes to: an order
the user may not see closes the socket with 1008 (policy violation) before anything is sent. The
socket then carries small JSON messages, `{"order": 12, "parts": ["flow", "timeline"], "seq": 3}`;
with the assembly's renderer (backend/app.py sets `render_parts`), the message also carries those
parts rendered for this socket's user, `"html"`, so the page swaps them in without a second round
trip; the renderer checks the session and the order's access again for every push, and a socket
whose user may no longer see the order is closed with 1008 and sent nothing. Without a renderer,
or when the parts are larger than MAX_PUSH_HTML or fail to render, the message only names the
parts and the page re-reads them over HTTP (each read checks access again). A page may also send `{"subscribe": id}` / `{"unsubscribe": id}` (at most
MAX_SUBSCRIPTIONS orders per socket, MAX_INBOUND characters per message: more closes it with 1008
or 1009).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from backend.db import new_session
from backend.errors import GendanError
from backend.live.orders import order_hub
from backend.live.router import _load_actor, _same_origin

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 20
MAX_INBOUND = 256
MAX_PUSH_HTML = 256_000  # characters; larger parts are re-read by the page instead
POLICY, TOO_BIG, UNAUTHENTICATED = 1008, 1009, 4401


class AccessLost(Exception):
    """The socket's session or the order's access is gone: the socket must close, sending nothing."""


# (scope, engine, order id, part names) -> the parts' HTML for the socket's user, or AccessLost.
# Set by the assembly (backend/app.py): the pages live above the backend.
render_parts: Callable[..., str] | None = None


async def _message(websocket: WebSocket, bind, order_id: int, parts: list[str]) -> dict:
    """What a change of `order_id` sends this socket; AccessLost when it must close instead."""
    message: dict = {"order": order_id, "parts": parts, "seq": next(order_hub.seq)}
    if render_parts is None:
        return message
    try:
        html = await asyncio.to_thread(render_parts, websocket.scope, bind, order_id, parts)
    except AccessLost:
        raise
    except Exception:  # noqa: BLE001 - the page still re-reads the parts over HTTP
        log.exception("rendering live parts %s of order %s failed", parts, order_id)
        return message
    if len(html) <= MAX_PUSH_HTML:
        message["html"] = html
    return message


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
                    try:
                        message = await _message(websocket, bind, oid, sorted(parts))
                    except AccessLost:
                        await websocket.close(code=POLICY)
                        return
                    await websocket.send_text(json.dumps(message))

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
