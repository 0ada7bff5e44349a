"""The rule designer pages: the list of rules (with the five classic templates) and the builder.

The builder (designer/static/js/rules/builder.js) edits the engine's RuleDefinition JSON: a
visual AND / OR condition builder over the fact catalogue, a JSON-logic tab that round-trips with
it, actions with message templates, and buttons that call the JSON API (/api/v1/rules) to
validate, dry-run, save, publish and enable. History is rendered on the server.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from backend.auth.deps import DbSession
from backend.errors import GendanError
from backend.rules import service
from engine.facts import Catalogue
from engine.rules.classics import CLASSIC_RULES, classic_rule
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter(include_in_schema=False)

# Derived facts read as a phrase with a unit: "more than [24] hours in stage".
UNITS = {
    "hours_in_stage": "hours", "working_hours_in_stage": "working hours", "days_since_created": "days",
    "days_until_planned_delivery": "days", "days_until_payment_due": "days",
    "days_overdue_planned_delivery": "days", "days_overdue_payment_due": "days",
    "hours_since_last_customer_contact": "hours",
}


def _require_designer(actor) -> None:
    if not (actor.is_admin or actor.has_role("designer")):
        raise GendanError("auth.forbidden")


def _fields(catalogue: Catalogue, locale: str) -> list[dict[str, Any]]:
    out = []
    for name, spec in catalogue.fields.items():
        label = (spec.label_zh if locale == "zh_CN" else spec.label_en) or spec.label_en or name
        out.append({"name": name, "type": str(spec.type), "source": spec.source, "label": label,
                    "unit": UNITS.get(name, ""), "options": list(spec.options)})
    return out


def _json_script(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


@router.get("/designer/rules")
def rule_list(request: Request, session: DbSession, actor: PageActor):
    _require_designer(actor)
    rules = service.list_rules(session, actor=actor)
    templates = [{"key": k, "name": v["name"]} for k, v in CLASSIC_RULES.items()]
    return render(request, "rules/list.html", {"nav": "designer", "rules": rules, "templates": templates})


@router.get("/designer/rules/new")
def new_rule(request: Request, session: DbSession, actor: PageActor, template: str | None = None):
    _require_designer(actor)
    if template is not None and template not in CLASSIC_RULES:
        raise GendanError("rule.not_found", {"key": template}, status=404)
    definition = classic_rule(template) if template else {
        "key": "", "name": {"zh": "", "en": ""}, "trigger": {"kind": "time", "every_minutes": 1},
        "condition": {"and": []}, "actions": [], "firing": {"mode": "once_per_episode"},
    }
    return _designer(request, session, actor, definition, rule=None, firings=[])


@router.get("/designer/rules/{key}")
def rule_designer(request: Request, session: DbSession, actor: PageActor, key: str):
    _require_designer(actor)
    rule = service.get_rule(session, actor=actor, key=key)
    firings = service.list_firings(session, actor=actor, key=key)
    return _designer(request, session, actor, rule.definition, rule=rule, firings=firings)


def _designer(request: Request, session, actor, definition: dict[str, Any], *, rule, firings):
    from backend.i18n import get_locale

    catalogue = service.catalogue_for(session)
    return render(request, "rules/designer.html", {
        "nav": "designer", "rule": rule, "firings": firings,
        "definition_json": _json_script(definition),
        "fields_json": _json_script(_fields(catalogue, get_locale())),
    })
