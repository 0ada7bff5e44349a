"""The SQL pull kind's part of the connector form: its fields, defaults and settings, and the
"test connection" answer (frontend/pages/connectors.py calls these)."""

from __future__ import annotations

from typing import Any

from backend import i18n
from frontend.pages.common import N_

SQL_TEXT_SETTINGS = ("dialect", "host", "database", "user", "schema_name", "table", "cursor_column", "key_column")
SQL_NUMBER_SETTINGS = ("port", "batch_size", "max_records_per_run", "connect_timeout_seconds",
                       "statement_timeout_seconds")
DIALECT_LABELS = {"postgresql": N_("PostgreSQL"), "mysql": N_("MySQL / MariaDB"),
                  "mssql": N_("SQL Server (needs the pymssql driver)")}
SQL_DEFAULTS = {"dialect": "postgresql", "batch_size": "500", "max_records_per_run": "10000",
                "connect_timeout_seconds": "10", "statement_timeout_seconds": "30"}


def settings_from_form(form: dict[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {k: form.get(k, "").strip() for k in SQL_TEXT_SETTINGS}
    settings["dialect"] = settings["dialect"] or "postgresql"
    for key in SQL_NUMBER_SETTINGS:
        value = form.get(key, "").strip()
        if value:
            settings[key] = value
    return settings


def form_from_settings(settings: dict[str, Any]) -> dict[str, str]:
    return {k: "" if settings.get(k) is None else str(settings.get(k))
            for k in SQL_TEXT_SETTINGS + SQL_NUMBER_SETTINGS}


def connected_message(order: str) -> str:
    return i18n.gettext("Connected read-only; the view was found and is read in this order: %(order)s") % {
        "order": order}
