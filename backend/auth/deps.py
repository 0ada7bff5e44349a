"""FastAPI dependencies: the DB session, the acting user, role checks, CSRF."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.clock import utcnow
from backend.db import new_session
from backend.errors import GendanError

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_session(request: Request) -> Iterator[Session]:
    # a reading request never queues for SQLite's write lock; a writing one takes it at BEGIN
    with new_session(request.app.state.engine, writes=request.method not in SAFE_METHODS) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use); pages put it in hx-headers and forms."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def _check_csrf(request: Request) -> None:
    expected = request.session.get("csrf")
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        sent = form.get("csrf_token")  # type: ignore[assignment]
    if not expected or not sent or not secrets.compare_digest(str(expected), str(sent)):
        raise GendanError("auth.csrf_failed")


async def optional_actor(request: Request, session: DbSession) -> Actor | None:
    settings = request.app.state.settings
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        user_id, generation = auth_service.read_token(settings.secret_key, auth[7:].strip())
        actor = await run_in_threadpool(auth_service.load_actor, session, user_id, via="token",
                                        generation=generation)
        if actor is None:
            raise GendanError("auth.invalid_token")
        return actor
    api_key = request.headers.get("X-API-Key")
    if api_key:
        actor = await run_in_threadpool(auth_service.actor_for_api_key, session, api_key, now=utcnow())
        if request.method in UNSAFE_METHODS and actor.scope != "write":
            # refused before any handler runs, so no endpoint can forget the scope
            raise GendanError("auth.read_only_key")
        return actor
    user_id = request.session.get("uid")
    if user_id is None:
        return None
    # in the threadpool: on SQLite a transaction waits for the write lock (BEGIN IMMEDIATE), and
    # waiting on the event loop would stall the request that holds the lock (a deadlock)
    actor = await run_in_threadpool(auth_service.actor_for_session, session,
                                    session_id=request.session.get("sid"), user_id=int(user_id))
    if actor is None:  # signed out elsewhere, or the password/roles changed since: sign in again
        request.session.clear()
        return None
    if request.method in UNSAFE_METHODS:
        await _check_csrf(request)
    return actor


async def current_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise GendanError("auth.required")
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


def require_write(actor: CurrentActor) -> Actor:
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    return actor


WritingActor = Annotated[Actor, Depends(require_write)]
