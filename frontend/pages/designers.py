"""/designer: where the shell's "Designer" link lands, a choice between the form, flow and rule designers.

Each designer lives at its own address (/designer/forms, /designer/flows, /designer/rules); without
this page the menu link was a dead end (404).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend.definitions.lifecycle import require_designer
from frontend.pages.common import N_, PageActor
from frontend.templating import render

router = APIRouter()

DESIGNERS = [
    ("/designer/forms", N_("Form designer"), N_("The fields people fill in when they create or edit an order.")),
    ("/designer/flows", N_("Flow designer"), N_("The steps an order goes through: approvals, tasks, branches.")),
    ("/designer/rules", N_("Rule designer"), N_("What happens automatically: reminders, risk flags, notifications.")),
    ("/designer/reports", N_("Report designer"), N_("Reports and charts over orders: group, measure, filter, export.")),
]


@router.get("/designer")
def designer_home(request: Request, actor: PageActor):
    require_designer(actor)
    return render(request, "designers/index.html", {"nav": "designer", "designers": DESIGNERS})
