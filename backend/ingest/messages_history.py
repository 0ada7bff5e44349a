"""Messages for history replay's row errors (English msgids; Chinese in replay.po; read by backend/i18n.py)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "import.history_out_of_order": "%(value)s is earlier than %(previous_value)s in %(previous)s: "
                                   "the history's times must not go backwards.",
    "import.history_in_future": "%(value)s lies in the future: history holds only past times.",
    "import.history_start_missing": "The order's creation time is missing: the history starts with it.",
}
