"""The websocket a signed-in page keeps open (htmx ws extension): it receives a tiny out-of-band
fragment whenever the user's inbox or notifications change, and the page re-fetches what it shows
over plain HTTP (so permissions, language and formatting stay in one place)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlparse

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from sqlalchemy.engine import Engine

from backend.auth import service as auth_service
from backend.db import new_session
from backend.live.hub import hub


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    """Listen to PostgreSQL notifications while the app runs (only with a PostgreSQL engine)."""
    listener = None
    engine = app.state.engine
    if isinstance(engine, Engine) and engine.dialect.name == "postgresql":
        from backend.live.pg import PgListener

        listener = PgListener(engine.url.render_as_string(hide_password=False), hub).start()
    yield
    if listener is not None:
        await asyncio.to_thread(listener.stop)


router = APIRouter(lifespan=lifespan, include_in_schema=False)


def _same_origin(websocket: WebSocket) -> bool:
    """Cookies ride along on cross-site websockets too; only our own pages may connect."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser
    return urlparse(origin).netloc == websocket.headers.get("host")


def signal(kind: str, seq: int) -> str:
    return f'<div id="live-signal" hx-swap-oob="true" hidden data-kind="{kind}" data-seq="{seq}"></div>'


def _load_actor(bind, user_id: int, session_id: str | None):
    """In a worker thread: a database call must never block the event loop (on SQLite a
    transaction waits for the write lock, which a request finishing on this loop may hold)."""
    with new_session(bind, writes=False) as session:
        return auth_service.actor_for_session(session, session_id=session_id, user_id=user_id)


@router.websocket("/ws/live")
async def live(websocket: WebSocket) -> None:
    user_id = websocket.session.get("uid") if "session" in websocket.scope else None
    if user_id is None or not _same_origin(websocket):
        await websocket.close(code=4401)
        return
    actor = await asyncio.to_thread(_load_actor, websocket.app.state.engine, int(user_id),
                                    websocket.session.get("sid"))
    if actor is None:
        await websocket.close(code=4401)
        return
    await websocket.accept()
    queue = hub.subscribe(actor.user_id)

    async def pump() -> None:
        while True:
            message = await queue.get()
            await websocket.send_text(signal(message.kind, message.seq))

    sender = asyncio.create_task(pump())
    try:
        while True:
            await websocket.receive_text()  # the page sends nothing; this notices the close
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        hub.unsubscribe(actor.user_id, queue)
