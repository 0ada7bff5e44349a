"""Vendor templates: one module per vendor in this package, found by `pkgutil` (no list to edit).

A module exposes `TEMPLATE` (a `backend.connectors.vendor_base.VendorTemplate`) and, for the
`vendor` connector kind, `fetch(ctx: FetchContext) -> Iterator[VendorPage]`. See docs/connectors.md,
"Vendor templates", for the contract.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from backend.connectors.vendor_base import VendorTemplate


@cache
def modules() -> dict[str, ModuleType]:
    """{template key: module} for every module of this package that has a TEMPLATE."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        template = getattr(module, "TEMPLATE", None)
        if not isinstance(template, VendorTemplate):
            continue
        if template.key in found:
            raise RuntimeError(f"two vendor templates use the key {template.key}")
        if template.kind == "vendor" and not callable(getattr(module, "fetch", None)):
            raise RuntimeError(f"vendor template {template.key} has kind vendor but no fetch()")
        found[template.key] = module
    return found


def templates() -> list[VendorTemplate]:
    return [m.TEMPLATE for m in modules().values()]


def get(key: str) -> VendorTemplate | None:
    module = modules().get(key)
    return module.TEMPLATE if module is not None else None


def fetcher(key: str):
    """The vendor's fetch function, or None when the key is unknown or has none."""
    module = modules().get(key)
    return getattr(module, "fetch", None) if module is not None else None
