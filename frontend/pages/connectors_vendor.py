"""The vendor templates' part of the connector pages: "New from template" (the list with what each
template fills and leaves), the form pre-filled from a template, the vendor kind's fields and
settings (frontend/pages/connectors.py calls these)."""

from __future__ import annotations

from typing import Any

from backend import i18n
from backend.connectors import vendors
from backend.connectors.vendor_base import VendorTemplate, text
from frontend.pages.common import N_
from frontend.pages.imports import TARGETS

VENDOR_NUMBER_SETTINGS = ("page_size", "window_minutes", "rate_limit_per_second", "max_retries", "timeout_seconds",
                          "max_response_bytes", "max_records_per_run", "max_pages_per_run")
VENDOR_SECRETS = ("password", "app_secret", "access_token", "client_secret")
# words a template may name in `leaves` besides the order's own fields
LEAVE_WORDS = {"owner": N_("Owner"), "designed_fields": N_("The fields of your order form"),
               "flow": N_("The approval and fulfilment flow"), "customer_details": N_("Customer contacts"),
               "stage_map": N_("Stage names beyond the mapped statuses")}


def target_label(target: str, template: VendorTemplate | None = None) -> str:
    labels = dict(TARGETS)
    if target in labels:
        return i18n.gettext(labels[target])
    if target in LEAVE_WORDS:
        return i18n.gettext(LEAVE_WORDS[target])
    if template is not None and target in template.data_labels:
        return text(template.data_labels[target])
    return target


def view(template: VendorTemplate) -> dict[str, Any]:
    """What the pages show of a template, in the reader's language."""
    return {"key": template.key, "kind": template.kind, "label": text(template.label),
            "description": text(template.description),
            "fills": [target_label(t, template) for t in template.fills],
            "leaves": [text(x) if not isinstance(x, str) else target_label(x, template) for x in template.leaves],
            "options": [{"name": o.name, "label": text(o.label), "required": o.required,
                         "hint": text(o.hint) if o.hint else ""} for o in template.options],
            "secrets": [{"name": s.name, "label": text(s.label), "required": s.required} for s in template.secrets],
            "base_url_hint": text(template.base_url_hint) if template.base_url_hint else "",
            "schedule_minutes": template.schedule_minutes, "docs": list(template.docs)}


def all_views() -> list[dict[str, Any]]:
    return [view(t) for t in sorted(vendors.templates(), key=lambda t: text(t.label))]


def extra_targets(template: VendorTemplate | None) -> list[tuple[str, str]]:
    """The data.<key> targets the template fills, for the mapping table's choices."""
    return [(k, text(v)) for k, v in template.data_labels.items()] if template else []


def form_from_template(template: VendorTemplate, zone: str) -> dict[str, str]:
    """The connector form's fields as the template fills them (the user adds credentials)."""
    mapping = template.mapping
    # the parts of the template's mapping the form does not show (line columns, data types, defaults)
    # are merged back in when the form is saved (mapping_versions.merge_form_mapping)
    form: dict[str, str] = {"kind": template.kind, "template": template.key,
                            "schedule_minutes": str(template.schedule_minutes), "max_failures": "5",
                            "is_enabled": "on", "source": mapping.get("source") or template.key.replace("_", "-"),
                            "timezone": mapping.get("timezone") or zone,
                            "create_customers": "on" if mapping.get("create_customers") else "",
                            "stage_map": "\n".join(f"{k}={v}" for k, v in {**mapping.get("stage_map", {}),
                                                                          **mapping.get("status_map", {})}.items())}
    form.update(form_from_settings(template.default_settings()))
    for i, (target, path) in enumerate((mapping.get("columns") or {}).items()):
        form[f"map_path_{i}"], form[f"map_target_{i}"] = path, target
    return form


def form_from_settings(settings: dict[str, Any]) -> dict[str, str]:
    if "vendor" not in settings:  # an http_json template: the generic fields
        out = {k: "" if v is None else str(v) for k, v in settings.items() if not isinstance(v, dict)}
        out["headers"] = "\n".join(f"{k}: {v}" for k, v in (settings.get("headers") or {}).items())
        return out
    form = {"vendor": str(settings.get("vendor") or ""), "base_url": str(settings.get("base_url") or ""),
            "vendor_timezone": str(settings.get("timezone") or "Asia/Shanghai"),
            "initial_since": str(settings.get("initial_since") or "")}
    for key in VENDOR_NUMBER_SETTINGS:
        if settings.get(key) is not None:
            form[key] = str(settings[key])
    for name, value in (settings.get("options") or {}).items():
        form[f"opt_{name}"] = str(value)
    return form


def settings_from_form(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, secrets) of the vendor kind from the form's fields."""
    settings: dict[str, Any] = {"vendor": form.get("vendor", "").strip(), "base_url": form.get("base_url", "").strip(),
                                "timezone": form.get("vendor_timezone", "").strip() or "Asia/Shanghai",
                                "initial_since": form.get("initial_since", "").strip(),
                                "options": {k[4:]: v.strip() for k, v in form.items()
                                            if k.startswith("opt_") and len(k) > 4}}
    for key in VENDOR_NUMBER_SETTINGS:
        value = form.get(key, "").strip()
        if value:
            settings[key] = value
    return settings, {k: form.get(k) or None for k in VENDOR_SECRETS}
