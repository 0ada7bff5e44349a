"""The form designer page: palette / canvas / properties, live preview, history, import / export.

The browser edits the definition JSON (designer/static/js/forms/designer.js) and talks to the JSON
API (/api/v1/forms); the preview is the real order form partial rendered from the draft, with the
same live round trip as "New order" (evaluated against the draft).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.deps import DbSession
from backend.definitions.lifecycle import require_designer
from backend.forms import service as forms_service
from engine import forms as forms_engine
from engine.forms import FieldType, FormDefinitionError
from frontend.pages.common import STAGE_LABELS, PageActor
from frontend.pages.form_view import FormInput, apply_action, build_view, parse_form
from frontend.templating import render

router = APIRouter(include_in_schema=False)

PALETTE = [
    ("text", "Text"), ("long_text", "Long text"), ("number", "Number"), ("money", "Money"),
    ("percent", "Percent"), ("date", "Date"), ("datetime", "Date and time"), ("single_select", "Single select"),
    ("multi_select", "Multi select"), ("checkbox", "Checkbox"), ("user", "User"), ("department", "Department"),
    ("customer", "Customer"), ("phone", "Phone number"), ("email", "Email"), ("attachment", "Attachment"),
    ("image", "Image"), ("line_items", "Line items"), ("computed", "Computed"), ("section", "Section heading"),
    ("description", "Description text"),
]


def _script_json(value) -> str:
    """JSON safe inside <script type="application/json"> (no `</script>` from a label)."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def _js_strings() -> dict[str, str]:
    words = {
        "key": "Key", "label_zh": "Label (Chinese)", "label_en": "Label (English)", "help_zh": "Help (Chinese)",
        "help_en": "Help (English)", "required": "Required", "required_if": "Required when (JSON-logic)",
        "visible_if": "Visible when (JSON-logic)", "expression": "Formula (JSON-logic)",
        "options": "Options (one per line: value|中文|English|colour)", "width": "Columns per row",
        "read_only": "Read-only", "unique": "Unique across orders", "min": "Minimum", "max": "Maximum",
        "default": "Default", "columns": "Columns", "totals": "Totals", "duplicate": "Duplicate",
        "delete": "Delete", "empty": "Drag field types here", "select_field": "Select a field to edit its properties.", "saved": "Draft saved.",
        "published": "Published version %(version)s.", "fix": "Fix the problems marked on the form.",
        "add_column": "Add column", "advanced": "All properties (JSON)",
        "shown_from": "Shown from stage", "always_shown": "Always shown",
        "custom_condition": "By the condition below",
    }
    out = {k: i18n.gettext(v) for k, v in words.items()}
    out["types"] = {t: i18n.gettext(label) for t, label in PALETTE}
    out["status"] = {s: i18n.gettext(s) for s in ("draft", "published", "retired")}
    out["version"] = i18n.gettext("Version %(version)s")
    out["stages"] = [[s, i18n.gettext(STAGE_LABELS[s])] for s in forms_service.STAGE_ORDER]
    return out


@router.get("/designer/forms")
def designer(request: Request, session: DbSession, actor: PageActor):
    require_designer(actor)
    working = forms_service.get_working_copy(session, actor=actor, key=forms_service.DEFAULT_FORM_KEY)
    definition = working.definition if working else {
        "key": forms_service.DEFAULT_FORM_KEY, "title": {"zh-CN": "订单", "en": "Order"}, "fields": []}
    versions = forms_service.list_versions(session, actor=actor, key=forms_service.DEFAULT_FORM_KEY)
    return render(request, "forms/designer.html", {
        "nav": "designer", "palette": PALETTE, "definition_json": _script_json(definition),
        "i18n_json": _script_json(_js_strings()),
        "versions": versions, "form_key": forms_service.DEFAULT_FORM_KEY,
        "status": working.status if working else "draft", "version": working.version if working else None,
    })


def _draft(session, key: str):
    working = forms_service.get_working_copy(session, actor=None, key=key)  # type: ignore[arg-type]
    if working is None:
        return None
    try:
        return forms_engine.parse_definition(working.definition)
    except FormDefinitionError:
        return None


@router.get("/designer/forms/{key}/preview")
def preview(request: Request, session: DbSession, actor: PageActor, key: str):
    """The draft rendered as users will fill it (the designer shows it at desktop and phone width)."""
    require_designer(actor)
    defn = _draft(session, key)
    if defn is None or forms_engine.validate_definition(defn):
        return render(request, "forms/preview.html", {"form": None})
    raw = forms_engine.initial_data(defn)
    for f in defn.data_fields():
        if f.type == FieldType.LINE_ITEMS and not raw.get(f.key):
            raw[f.key] = [{}]
    return _render_preview(request, defn, raw, key)


def _render_preview(request: Request, defn, raw, key: str):
    result = forms_engine.validate_data(defn, raw, locale=forms_service.engine_locale())
    return render(request, "forms/preview.html", {
        "form": build_view(defn, raw, result), "evaluate_url": f"/designer/forms/{key}/preview/evaluate",
        "action_url": f"/designer/forms/{key}/preview/rows",
    })


@router.post("/designer/forms/{key}/preview/evaluate")
async def preview_evaluate(request: Request, session: DbSession, actor: PageActor, key: str):
    require_designer(actor)
    form = await request.form()
    return await run_in_threadpool(_preview_evaluate, request, session, key, form)


def _preview_evaluate(request: Request, session, key: str, form):
    defn = _draft(session, key)
    if defn is None:
        return HTMLResponse("")
    raw = parse_form(defn, FormInput(list(form.multi_items())))
    result = forms_engine.validate_data(defn, raw, locale=forms_service.engine_locale())
    return render(request, "orders/_form.html", {
        "form": build_view(defn, raw, result), "evaluate_url": "", "action_url": ""}, block="live")


@router.post("/designer/forms/{key}/preview/rows")
async def preview_rows(request: Request, session: DbSession, actor: PageActor, key: str):
    require_designer(actor)
    posted = await request.form()
    return await run_in_threadpool(_preview_rows, request, session, key, posted)


def _preview_rows(request: Request, session, key: str, posted):
    defn = _draft(session, key)
    if defn is None:
        return HTMLResponse("")
    form = FormInput(list(posted.multi_items()))
    raw = apply_action(defn, parse_form(defn, form), form.get("_action"))
    result = forms_engine.validate_data(defn, raw, locale=forms_service.engine_locale())
    return render(request, "orders/_form.html", {
        "form": build_view(defn, raw, result), "evaluate_url": f"/designer/forms/{key}/preview/evaluate",
        "action_url": f"/designer/forms/{key}/preview/rows"}, block="fields")
