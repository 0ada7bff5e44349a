"""Parts of the order page, re-read when the order changes (static/js/live.js).

`GET /orders/{id}/live?parts=head,timeline,flow` answers the named parts in one response, each an
out-of-band swap by its id (one request, one access check and one order read per refresh, however
many parts changed); `GET /orders/{id}/live/{part}` answers one part alone. Each read checks
access like the whole page does (a push names the order, never its data) and builds only what
its parts show, not the whole page's view model.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.errors import GendanError
from backend.orders import service as orders_service
from backend.people.models import User
from backend.tracking import messages as tracking_messages
from frontend.pages.common import CHANNEL_LABELS, PageActor
from frontend.pages.notifications import delivery_problem
from frontend.pages.order_flow import _flow_context
from frontend.pages.order_form import designed_fields_view, loose_fields_view
from frontend.pages.orders import _form_fields, build_timeline
from frontend.templating import render

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
