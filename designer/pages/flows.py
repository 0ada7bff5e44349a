"""The flow designer page.

The designer edits the engine's definition JSON on a LogicFlow canvas
(designer/static/js/flows/designer.js) and talks to the JSON API (/api/v1/flows) for validation,
saving, publishing, import / export and simulation. The order's flow picture, which people who
use the system see, is a frontend page (frontend/pages/order_flow.py).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from backend import i18n
from backend.auth.deps import DbSession
from backend.definitions.lifecycle import require_designer
from backend.flows import service
from backend.rules.context import catalogue_for
from engine.facts import FactType
from frontend.pages.common import N_, PageActor
from frontend.templating import render

router = APIRouter(include_in_schema=False)

PALETTE = [
    ("start", N_("Start")), ("approval", N_("Approval")), ("task", N_("Task")),
    ("exclusive", N_("Exclusive branch")), ("parallel_split", N_("Parallel split")),
    ("parallel_join", N_("Parallel join")), ("notify", N_("Carbon copy")), ("wait", N_("Wait")),
    ("auto", N_("Automatic step")), ("end", N_("End")),
]


VERSION_STATUS = {"draft": N_("Draft"), "published": N_("Published"), "retired": N_("Retired"), "new": N_("New flow")}
LABELS = {"version_status": VERSION_STATUS}


@router.get("/designer/flows")
def flow_list(request: Request, session: DbSession, actor: PageActor):
    require_designer(actor)
    flows = service.list_flows(session, actor=actor)
    return render(request, "flows/list.html", {"nav": "designer", "flows": flows, "labels": LABELS,
                                               "default_key": service.DEFAULT_FLOW_KEY})


@router.get("/designer/flows/{key}")
def flow_designer(request: Request, session: DbSession, actor: PageActor, key: str):
    require_designer(actor)
    working = service.get_working_copy(session, actor=actor, key=key)
    definition = working.definition if working else {
        "key": key, "name": {"zh-CN": key, "en": key}, "nodes": [], "edges": []}
    versions = service.list_versions(session, actor=actor, key=key)
    auto_fields = [{"name": name, "label": i18n.gettext(spec.label_en) if i18n.get_locale() != "zh_CN"
                    else (spec.label_zh or spec.label_en)}
                   for name, spec in catalogue_for(session).fields.items()
                   if spec.type in (FactType.NUMBER, FactType.STRING, FactType.BOOL)]
    return render(request, "flows/designer.html", {
        "nav": "designer", "palette": PALETTE, "flow_key": key, "versions": versions, "labels": LABELS,
        "definition_json": json.dumps(definition, ensure_ascii=False).replace("</", "<\\/"),
        "status": working.status if working else "new", "version": working.version if working else None,
        "parties_json": _parties_json(session),
        "party_fields_json": _party_fields_json(session),
        "auto_fields_json": json.dumps(auto_fields, ensure_ascii=False).replace("</", "<\\/"),
    })


PARTY_FIELD_TYPES = ("text", "single_select")


def _party_fields_json(session) -> str:
    """The order form's fields that can name a step's company per order (`party_field`: a supplier
    typed or chosen on the order), for the node panel's field picker."""
    from backend.forms import service as forms_service

    form = forms_service.get_published(session)
    locale = forms_service.engine_locale()
    fields = [] if form is None else [
        {"path": f"data.{f.key}", "label": f.text("label", locale) or f.key}
        for f in form.data_fields() if str(f.type.value) in PARTY_FIELD_TYPES]
    return json.dumps(fields, ensure_ascii=False).replace("</", "<\\/")


def _parties_json(session) -> str:
    """The external parties a node can be given to (the node panel's choice; backend/portal/)."""
    from sqlalchemy import select

    from backend.portal.models import ExternalParty

    rows = session.exec(select(ExternalParty.id, ExternalParty.kind, ExternalParty.name)
                        .where(ExternalParty.is_active.is_(True)).order_by(ExternalParty.name).limit(500)).all()
    return json.dumps([{"id": r.id, "kind": r.kind, "name": r.name} for r in rows],
                      ensure_ascii=False).replace("</", "<\\/")
