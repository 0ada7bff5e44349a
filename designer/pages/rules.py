"""The rule designer pages: the list of rules (with the five classic templates) and the builder.

The builder (designer/static/js/rules/*.js) edits the engine's RuleDefinition JSON: a visual
AND / OR condition builder over the fact catalogue (builder.js), a JSON-logic tab that round-trips
with it, an editor for every action type with a preview on a real order (actions.js), the scope
(scope.js), and buttons that call the JSON API (/api/v1/rules) to validate, preview, dry-run,
save, publish and enable. History is rendered on the server.

The page hands the browser everything an admin picks from, so nobody types an id or a key:
active users, roles, published forms and flows, customer tiers, order statuses, the fields a rule
may set, and the first order's number for the preview.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select

from backend import i18n
from backend.auth.deps import DbSession
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.flows.models import FlowDefinitionRow
from backend.forms.models import FormDefinitionRow
from backend.people.models import ROLES, User
from backend.rules import definitions, history, matching
from backend.rules.context import catalogue_for
from engine.facts import Catalogue
from engine.rules.classics import CLASSIC_RULES, classic_rule
from engine.rules.definition import load_rule
from engine.rules.template_context import VARIABLES
from engine.rules.template_context import variables as template_variables
from engine.rules.validate import _READ_ONLY as READ_ONLY_FIELDS
from frontend.pages import definition_names
from frontend.pages.common import N_, STAGE_LABELS, STATUS_LABELS, PageActor, role_label
from frontend.templating import render

router = APIRouter(include_in_schema=False)

# Derived facts read as a phrase with a unit: "more than [24] hours in stage".
UNITS = {
    "hours_in_stage": "hours", "working_hours_in_stage": "working hours", "days_since_created": "days",
    "days_until_planned_delivery": "days", "days_until_payment_due": "days",
    "days_overdue_planned_delivery": "days", "days_overdue_payment_due": "days",
    "hours_since_last_customer_contact": "hours",
    "predicted_days_late": "days", "stage_p90_hours": "hours",  # foresight
}


TIERS = {"key": N_("Key accounts"), "standard": N_("Standard customers"), "small": N_("Small customers")}


def _fields(catalogue: Catalogue, locale: str, stages: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The catalogue for the builder. `stage` and `status` list their values with names, so a
    condition reads "stage equals 审批" and stores the key `approval`."""
    named = {"stage": stages or {}, "status": {k: i18n.gettext(v) for k, v in STATUS_LABELS.items()}}
    labels_of = {name: (spec.label_zh if locale == "zh_CN" else spec.label_en) or spec.label_en or name
                 for name, spec in catalogue.fields.items()}
    taken: dict[str, int] = {}
    for label in labels_of.values():
        taken[label] = taken.get(label, 0) + 1
    out = []
    for name, spec in catalogue.fields.items():
        label = labels_of[name]
        if taken[label] > 1:  # 计划交期 on the order and in a form: say which is which
            label = (i18n.gettext("%(label)s (order)", label=label) if spec.source != "designed"
                     else i18n.gettext("%(label)s (form field %(key)s)", label=label, key=name.removeprefix("data.")))
        labels = named.get(name) or {}
        out.append({"name": name, "type": str(spec.type), "source": spec.source, "label": label,
                    "unit": UNITS.get(name, ""), "options": list(labels) or list(spec.options),
                    "option_labels": labels,
                    "settable": spec.source != "derived" and name not in READ_ONLY_FIELDS})
    return out


def _published(session, table, locale: str) -> list[dict[str, str]]:
    rows = session.exec(select(table.key, table.definition).where(table.status == "published")
                        .order_by(table.key)).all()
    out = []
    for key, definition in rows:
        # a flow has a `name`, a form a `title`: the form read as its key ("order") before
        name = definition_names.localized(
            (definition or {}).get("name") or (definition or {}).get("title"), locale) or key
        out.append({"value": key, "label": key if name == key else f"{name} ({key})"})
    return out


def _stages(session, locale: str) -> list[dict[str, str]]:
    """The order stages by their names, plus any other stage a published flow's step sets.

    A flow step moves the order to the step's `stage` (not to the step's key), so flow node names
    are not stages; rules have no fact for "the flow is at node X", so nodes are not offered."""
    out = [{"value": k, "label": i18n.gettext(v)} for k, v in STAGE_LABELS.items()]
    seen = set(STAGE_LABELS)
    rows = session.exec(select(FlowDefinitionRow.definition).where(FlowDefinitionRow.status == "published")
                        .order_by(FlowDefinitionRow.key)).scalars()
    for definition in rows:
        for node in (definition or {}).get("nodes", ()):
            stage = node.get("stage") if isinstance(node, dict) else None
            if isinstance(stage, str) and stage and stage not in seen:
                seen.add(stage)
                out.append({"value": stage, "label": stage})
    return out


def _choices(session, locale: str) -> dict[str, Any]:
    """What the builder's pickers offer (labels translated here, values as the engine stores them)."""
    users = session.exec(select(User.id, User.display_name, User.username).where(User.is_active)
                         .order_by(User.display_name, User.id)).all()
    return {
        "users": [{"value": uid, "label": f"{name} ({username})"} for uid, name, username in users],
        "roles": [{"value": role, "label": role_label(role)} for role in ROLES],
        "forms": _published(session, FormDefinitionRow, locale),
        "flows": _published(session, FlowDefinitionRow, locale),
        "tiers": [{"value": k, "label": i18n.gettext(v)} for k, v in TIERS.items()],
        "statuses": [{"value": k, "label": i18n.gettext(v)} for k, v in STATUS_LABELS.items()],
        "stages": _stages(session, locale),
        "first_order": matching.first_order_number(session) or "",
    }


# the documented variables' labels are msgids (translated here); designed fields bring their own
CORE_VARIABLES = {name for name, _label in VARIABLES}
# pybabel extracts only marked strings, so the engine's labels are marked here once more
_VARIABLE_MSGIDS = (N_("Order number"), N_("Customer name"), N_("Customer code"), N_("Owner"),
                    N_("Amount with currency"), N_("Amount"), N_("Currency"), N_("Stage"), N_("Planned delivery"),
                    N_("Payment due"), N_("Hours in stage"), N_("Tracking link"), N_("Customer contact"),
                    N_("Owner e-mail"), N_("Rule name"), N_("Today"), N_("Why the delay risk (predicted)"))


def _json_script(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


@router.get("/designer/rules")
def rule_list(request: Request, session: DbSession, actor: PageActor):
    require_designer(actor)
    rules = definitions.list_rules(session, actor=actor)
    templates = [{"key": k, "name": v["name"]} for k, v in CLASSIC_RULES.items()]
    return render(request, "rules/list.html", {"nav": "designer", "rules": rules, "templates": templates})


@router.get("/designer/rules/new")
def new_rule(request: Request, session: DbSession, actor: PageActor, template: str | None = None):
    require_designer(actor)
    if template is not None and template not in CLASSIC_RULES:
        raise GendanError("rule.not_found", {"key": template})
    definition = classic_rule(template) if template else {
        "key": "", "name": {"zh": "", "en": ""}, "trigger": {"kind": "time", "every_minutes": 1},
        "condition": {"and": []}, "actions": [], "firing": {"mode": "once_per_episode"},
    }
    return _designer(request, session, actor, definition, rule=None, firings=[])


@router.get("/designer/rules/{key}")
def rule_designer(request: Request, session: DbSession, actor: PageActor, key: str):
    require_designer(actor)
    rule = definitions.get_rule(session, actor=actor, key=key)
    firings = history.list_firings(session, actor=actor, key=key)
    return _designer(request, session, actor, rule.definition, rule=rule, firings=firings)


@router.get("/designer/rules/{key}/due-build", name="rule_due_build")
def rule_due_build(request: Request, session: DbSession, actor: PageActor, key: str):
    """The progress of the rule's due times (a fragment that re-reads itself until they are built)."""
    require_designer(actor)
    rule = definitions.get_rule(session, actor=actor, key=key)
    return render(request, "rules/_due_build.html", {"rule": rule, "percent": rule.due_build_percent,
                                                      "polling": True})


def _designer(request: Request, session, actor, definition: dict[str, Any], *, rule, firings):
    from backend.i18n import get_locale

    catalogue = catalogue_for(session)
    locale = get_locale()
    try:  # a rule stored with one text per template opens with its text in the language it is in
        definition = {**definition, "actions": load_rule(definition).model_dump(mode="json")["actions"]}
    except (ValidationError, ValueError):
        pass
    lang = "en" if locale == "en" else "zh"
    choices = _choices(session, locale)
    translate = i18n.translations(locale).ugettext  # the labels are the msgids marked below
    choices["variables"] = [{**v, "label": translate(v["label"]) if v["name"] in CORE_VARIABLES else v["label"]}
                            for v in template_variables(catalogue, lang)]
    return render(request, "rules/designer.html", {
        "nav": "designer", "rule": rule, "firings": firings, "ui_lang": lang,  # each firing with its words
        "definition_json": _json_script(definition),
        "fields_json": _json_script(_fields(catalogue, locale,
                                            {s["value"]: s["label"] for s in _stages(session, locale)})),
        "choices_json": _json_script(choices),
    })
