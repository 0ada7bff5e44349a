"""Parts of the order page, re-read alone when the order changes (static/js/live.js).

The flow panel (`/orders/{id}/flow`) and the conversation (`/orders/{id}/messages`) have their own
routes already; these are the stage pills, the fields and the timeline. Each read checks access
like the whole page does (a push names the order, never its data); each builds only what its
part shows, not the whole page's view model.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend.auth.deps import DbSession
from backend.errors import GendanError
from backend.orders import service as orders_service
from backend.people.models import User
from frontend.pages.common import PageActor
from frontend.pages.order_form import designed_fields_view, loose_fields_view
from frontend.pages.orders import _form_fields, build_timeline
from frontend.templating import render

router = APIRouter(include_in_schema=False)

TEMPLATES = {"head": "orders/_head.html", "details": "orders/_details.html", "timeline": "orders/_timeline.html"}


@router.get("/orders/{order_id}/live/{part}")
def order_part(request: Request, session: DbSession, actor: PageActor, order_id: int, part: str):
    template = TEMPLATES.get(part)
    if template is None:
        raise GendanError("live.part_not_found", {"part": part[:40]})
    order = orders_service.get_order(session, actor=actor, order_id=order_id)  # access checked here
    context = {"order": order}
    if part == "details":
        context |= {"owner": session.get(User, order.owner_id), "designed": designed_fields_view(session, order),
                    "loose_fields": loose_fields_view(session, order)}
    elif part == "timeline":  # the same entries the whole page shows (frontend/pages/orders.py)
        events = orders_service.list_events(session, actor=actor, order_id=order_id)
        context["timeline"] = build_timeline(session, events, currency=order.currency, order_id=order.id,
                                             form_fields=_form_fields(session, order.form_key, order.form_version))
    return render(request, template, context)
