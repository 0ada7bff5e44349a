"""What a rule's message template can read: one documented context, per reader language.

    order     the order's facts (`order.number`, `order.amount`, `order.hours_in_stage`, designed
              fields as `order.data.<key>`) plus customer_name, customer_code, owner_name,
              stage_label (in the reader's language), tracking_link (the customer's page, when
              the order has an active link) and delay_reasons (Foresight's reasons, in words)
    customer  name, code, contact_name, tier
    owner     name, username, email
    rule      key, name (in the reader's language)
    now       the moment of the firing (`{{ now | date }}`)

The backend resolves names and links (`TemplateExtras`); the engine only assembles. `_lang` and
`_zone` are for the filters (engine/rules/template_filters.py), not for authors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.facts import Catalogue
from engine.rules.templates import sample_facts

__all__ = ["LANGS", "TemplateExtras", "VARIABLES", "build_context", "sample_context", "variables"]

LANGS = ("zh", "en")  # the languages a template is written in (RuleDefinition's LocalizedText)
EFFECT_LOCALE = {"zh": "zh-CN", "en": "en"}  # how engine.effects.Text names them


@dataclass(frozen=True)
class TemplateExtras:
    """What the facts lack, resolved by the backend for one order."""

    customer: Mapping[str, Any] = field(default_factory=dict)  # name, code, contact_name, tier
    owner: Mapping[str, Any] = field(default_factory=dict)  # name, username, email
    stage_labels: Mapping[str, str] = field(default_factory=dict)  # {"zh": "审批", "en": "Approval"}
    tracking_link: str = ""
    zone: str = "Asia/Shanghai"
    delay_reasons: Mapping[str, str] = field(default_factory=dict)  # Foresight's reasons, {"zh": …, "en": …}


# (name, English label) of every variable the designer lists; designed fields are added per form.
VARIABLES: tuple[tuple[str, str], ...] = (
    ("order.number", "Order number"),
    ("order.customer_name", "Customer name"),
    ("order.customer_code", "Customer code"),
    ("order.owner_name", "Owner"),
    ("order.amount | money", "Amount with currency"),
    ("order.amount", "Amount"),
    ("order.currency", "Currency"),
    ("order.stage_label", "Stage"),
    ("order.planned_delivery | date", "Planned delivery"),
    ("order.payment_due | date", "Payment due"),
    ("order.hours_in_stage | number(1)", "Hours in stage"),
    ("order.tracking_link", "Tracking link"),
    ("order.delay_reasons", "Why the delay risk (predicted)"),
    ("customer.contact_name", "Customer contact"),
    ("owner.email", "Owner e-mail"),
    ("rule.name", "Rule name"),
    ("now | date", "Today"),
)
_CUSTOMER_KEYS = ("name", "code", "contact_name", "tier")
_OWNER_KEYS = ("name", "username", "email")


def variables(catalogue: Catalogue, lang: str) -> list[dict[str, str]]:
    """The variables the designer offers: name (what is inserted between braces) and label."""
    out = [{"name": name, "label": label} for name, label in VARIABLES]
    for name, spec in catalogue.fields.items():
        if spec.source == "designed":
            label = (spec.label_zh if lang == "zh" else spec.label_en) or name
            out.append({"name": f"order.{name}", "label": label})
    return out


def build_context(facts: Mapping[str, Any], *, lang: str, extras: TemplateExtras | None, rule_key: str,
                  rule_name: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The context one template renders with, for a reader of `lang`."""
    extras = extras or TemplateExtras()
    customer = {k: extras.customer.get(k) for k in _CUSTOMER_KEYS}
    owner = {k: extras.owner.get(k) for k in _OWNER_KEYS}
    order = {
        **facts,
        "customer_name": customer["name"],
        "customer_code": customer["code"],
        "owner_name": owner["name"],
        "stage_label": extras.stage_labels.get(lang) or facts.get("stage"),
        "tracking_link": extras.tracking_link or None,
        "delay_reasons": extras.delay_reasons.get(lang) or "",
    }
    other = "en" if lang == "zh" else "zh"
    return {
        "order": order,
        "customer": customer,
        "owner": owner,
        "rule": {"key": rule_key, "name": rule_name.get(lang) or rule_name.get(other) or rule_key},
        "now": now.isoformat(),
        "_lang": lang,
        "_zone": extras.zone,
    }


def sample_context(catalogue: Catalogue, lang: str = "zh") -> dict[str, Any]:
    """A context with a value for every name (validation renders against it, strictly)."""
    extras = TemplateExtras(customer={k: "x" for k in _CUSTOMER_KEYS}, owner={k: "x" for k in _OWNER_KEYS},
                            stage_labels={"zh": "x", "en": "x"}, tracking_link="https://x",
                            delay_reasons={"zh": "x", "en": "x"})
    return build_context(sample_facts(catalogue), lang=lang, extras=extras, rule_key="k",
                         rule_name={"zh": "n", "en": "n"}, now=datetime(2026, 1, 1))
