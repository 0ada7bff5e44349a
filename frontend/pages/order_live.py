"""Parts of the order page, re-read alone when the order changes (static/js/live.js).

The flow panel (`/orders/{id}/flow`) and the conversation (`/orders/{id}/messages`) have their own
routes already; these are the stage pills, the fields and the timeline. Each read checks access
like the whole page does (a push names the order, never its data).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend.auth.deps import DbSession
from backend.errors import GendanError
from frontend.pages.common import PageActor
from frontend.pages.orders import _detail_context
from frontend.templating import render

router = APIRouter(include_in_schema=False)

TEMPLATES = {"head": "orders/_head.html", "details": "orders/_details.html", "timeline": "orders/_timeline.html"}


@router.get("/orders/{order_id}/live/{part}")
def order_part(request: Request, session: DbSession, actor: PageActor, order_id: int, part: str):
    template = TEMPLATES.get(part)
    if template is None:
        raise GendanError("live.part_not_found", {"part": part[:40]})
    return render(request, template, _detail_context(session, actor, order_id))
