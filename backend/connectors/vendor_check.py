"""Checks of a vendor connector's settings on save: the template exists, its required options are
given, the time zone is real. Field errors keyed like the form's fields (settings.opt_<name>)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.connectors import vendors
from backend.connectors.vendor_settings import VendorSettings


def problems(settings: VendorSettings) -> dict[str, tuple[str, dict[str, Any]]]:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    template = vendors.get(settings.vendor)
    if template is None or template.kind != "vendor":
        return {"settings.vendor": ("vendor.unknown", {"key": settings.vendor})}
    for option in template.options:
        if option.required and not str(settings.options.get(option.name) or option.default).strip():
            fields[f"settings.opt_{option.name}"] = ("vendor.option_missing", {"name": option.name})
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fields["settings.vendor_timezone"] = ("vendor.timezone_invalid", {"value": settings.timezone[:60]})
    return fields
