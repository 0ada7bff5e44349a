"""The mapping editor page (issue 13): sample records (fetched from the saved connector or pasted),
source fields beside order fields, drag/click/select to connect, transforms per connection, a live
preview, save as a new version, versions with restore, export/import JSON. The page is a shell; the
browser code (frontend/static/js/mapping_editor.js) talks to the JSON API in
backend/connectors/mapping_router.py, so the same checks run for the page and the API."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from backend import i18n
from backend.auth.deps import DbSession
from backend.connectors import mapping as mapping_service
from backend.connectors import service as connector_service
from backend.installation.service import get_installation
from frontend.pages.admin import AdminActor
from frontend.pages.common import N_
from frontend.pages.imports import TARGETS, _designed_targets
from frontend.templating import render

router = APIRouter(prefix="/admin")
TRANSFORM_LABELS = {
    "scale100": N_("Divide by 100 (fen → yuan)"), "scale1000": N_("Divide by 1000 (g → kg)"),
    "scale": N_("Multiply or divide"), "date": N_("Date format"), "map": N_("Value map"),
    "split": N_("Split"), "join": N_("Join with other fields"), "trim": N_("Trim spaces"),
    "upper": N_("Upper case"), "lower": N_("Lower case"), "default": N_("Default value"),
    "constant": N_("Constant value")}
JS_WORDS = {
    "remove": N_("Remove"), "step": N_("Step %(n)s"), "pattern": N_("Pattern"), "format": N_("Read as"),
    "fmt_pattern": N_("A pattern"), "fmt_epoch_s": N_("Seconds since 1970"), "fmt_epoch_ms": N_("Milliseconds since 1970"),
    "fmt_excel": N_("Excel date number"), "mode": N_("Operation"), "multiply": N_("Multiply by"),
    "divide": N_("Divide by"), "number": N_("Number"), "values": N_("Values (one per line: source=result)"),
    "default": N_("Otherwise"), "strict": N_("Other values are an error"), "separator": N_("Separator"),
    "index": N_("Part (0 = first, -1 = last)"), "paths": N_("Other source fields (comma separated)"),
    "value": N_("Value"), "connect": N_("Connect %(path)s"), "disconnect": N_("Disconnect"),
    "connected_to": N_("Connected to %(n)s order fields"), "records": N_("%(n)s sample records"),
    "no_records": N_("No sample records yet: fetch them or paste them."), "bad_paste": N_(
        "The pasted text is neither JSON records nor CSV with a header row."),
    "ok": N_("OK"), "saved": N_("Saved as version %(n)s."), "restored": N_("Version %(n)s restored as version %(m)s."),
    "imported": N_("Imported as version %(n)s."), "version": N_("Version %(n)s"), "restore": N_("Restore"),
    "by": N_("by %(name)s"), "fields": N_("%(n)s fields"), "failed": N_("The request failed: %(message)s"),
    "note_imported": N_("imported"), "note_restored": N_("restored from version %(n)s"),
    "bad_file": N_("The file is not valid JSON."), "none": N_("— none —"),
}


def _targets(session) -> list[dict[str, str]]:
    core = [{"target": t, "label": i18n.gettext(label)} for t, label in TARGETS]
    return core + [{"target": d["target"], "label": d["label"]} for d in _designed_targets(session)]


def _page(request: Request, session, actor, connector) -> Any:
    mapping = connector.mapping if connector else {
        "columns": {}, "source": "connector", "timezone": get_installation(session).timezone}
    versions = mapping_service.list_versions(session, actor=actor, connector_id=connector.id) if connector else []
    data = {"connector_id": connector.id if connector else None, "mapping": mapping,
            "versions": [v.model_dump(mode="json") for v in versions],
            "words": {k: i18n.gettext(v) for k, v in JS_WORDS.items()},
            "transforms": {k: i18n.gettext(v) for k, v in TRANSFORM_LABELS.items()},
            # versions are dated in the installation's zone, as every time the server writes (the
            # browser's own zone showed UTC 22:08 where the connector's page said 06:08)
            "zone": get_installation(session).timezone}
    return render(request, "connectors/mapping_editor.html", {
        "nav": "admin", "tab": "connectors", "c": connector, "targets": _targets(session),
        "transform_labels": TRANSFORM_LABELS, "data_json": json.dumps(data, ensure_ascii=False).replace("</", "<\\/")})


@router.get("/connectors/mapping-editor")
def new_mapping_editor(request: Request, session: DbSession, actor: AdminActor):
    """The editor for a connector not saved yet: pasted records, preview, export as JSON."""
    return _page(request, session, actor, None)


@router.get("/connectors/{connector_id}/mapping")
def mapping_editor(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    connector = connector_service.get_connector(session, actor=actor, connector_id=connector_id)
    return _page(request, session, actor, connector)
