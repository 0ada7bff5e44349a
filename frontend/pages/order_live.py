"""Parts of the order page, re-read when the order changes (static/js/live.js).

`GET /orders/{id}/live?parts=head,timeline,flow` answers the named parts in one response, each an
out-of-band swap by its id (one request, one access check and one order read per refresh, however
many parts changed); `GET /orders/{id}/live/{part}` answers one part alone. Each read checks
access like the whole page does and builds only what its parts show, not the whole page's view
model.

`push_html` renders the same answer for the order socket (backend/live/order_socket.py), so a push
carries the changed parts themselves and the page needs no second round trip: it is called per
subscriber, in a worker thread, with that socket's signed-in session, and checks the session and
the order's access again each time (a user signed out or moved off the order since the socket
opened gets no data).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.requests import HTTPConnection
from starlette.types import Scope

from backend import i18n
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.auth.deps import DbSession, csrf_token
from backend.db import new_session
from backend.errors import GendanError
from backend.live.order_socket import AccessLost
from backend.orders import service as orders_service
from backend.people.models import User
from backend.tracking import messages as tracking_messages
from frontend.pages.common import CHANNEL_LABELS, PageActor
from frontend.pages.notifications import delivery_problem
from frontend.pages.order_flow import _flow_context
from frontend.pages.order_form import designed_fields_view, loose_fields_view
from frontend.pages.orders import _form_fields, build_timeline
from frontend.templating import env, render

router = APIRouter(include_in_schema=False)

TEMPLATES = {"head": "orders/_head.html", "details": "orders/_details.html", "timeline": "orders/_timeline.html",
             "flow": "orders/_flow.html", "messages": "orders/_conversation.html"}


def _parts(raw: str) -> list[str]:
    parts = [p for p in dict.fromkeys(raw.split(",")[:len(TEMPLATES) + 1]) if p]
    unknown = [p for p in parts if p not in TEMPLATES]
    if unknown or not parts:
        raise GendanError("live.part_not_found", {"part": (unknown or [""])[0][:40]})
    return parts


def _context(request: Request, session: Session, actor: Actor, order_id: int, parts: list[str]) -> dict[str, Any]:
    order = orders_service.get_order(session, actor=actor, order_id=order_id)  # access checked here
    context: dict[str, Any] = {}
    if "flow" in parts:
        context |= _flow_context(request, session, actor, order_id)
    context["order"] = order
    if "details" in parts:
        context |= {"owner": session.get(User, order.owner_id), "designed": designed_fields_view(session, order),
                    "loose_fields": loose_fields_view(session, order)}
    if "timeline" in parts:  # the same entries the whole page shows (frontend/pages/orders.py)
        events = orders_service.list_events(session, actor=actor, order_id=order_id)
        context["timeline"] = build_timeline(session, events, currency=order.currency, order_id=order.id,
                                             form_fields=_form_fields(session, order.form_key, order.form_version))
    if "messages" in parts:
        context |= {"conversation": tracking_messages.list_messages(session, order.id),
                    "channel_labels": CHANNEL_LABELS, "delivery_problem": delivery_problem}
    return context


@router.get("/orders/{order_id}/live")
def order_parts(request: Request, session: DbSession, actor: PageActor, order_id: int, parts: str = ""):
    names = _parts(parts)
    context = _context(request, session, actor, order_id, names)
    return render(request, "orders/_live_parts.html",
                  {**context, "parts": names, "part_templates": TEMPLATES, "oob": True})


@router.get("/orders/{order_id}/live/{part}")
def order_part(request: Request, session: DbSession, actor: PageActor, order_id: int, part: str):
    names = _parts(part)
    return render(request, TEMPLATES[names[0]], _context(request, session, actor, order_id, names))


def push_html(scope: Scope, bind, order_id: int, parts: list[str]) -> str:
    """The named parts of an order page as the socket's user would read them now (out-of-band
    swaps, as `order_parts` answers). Raises AccessLost when the session no longer signs anyone in
    or the order is no longer theirs to see."""
    request = HTTPConnection(scope)  # the websocket's: its session, headers and locale
    user_id, session_id = request.session.get("uid"), request.session.get("sid")
    names = _parts(",".join(parts))
    with new_session(bind, writes=False) as session:
        actor = auth_service.actor_for_session(session, session_id=session_id, user_id=int(user_id or 0))
        if actor is None:
            raise AccessLost
        try:
            context = _context(request, session, actor, order_id, names)
        except GendanError as exc:
            raise AccessLost from exc
        request.state.actor = actor
        return env.get_template("orders/_live_parts.html").render(
            request=request, csrf_token=csrf_token(request), locale=i18n.get_locale(), actor=actor,
            **context, parts=names, part_templates=TEMPLATES, oob=True)
