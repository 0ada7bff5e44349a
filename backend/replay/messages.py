"""Messages of the what-if replay's error codes (English msgids; Chinese in whatif.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "whatif.weeks_out_of_range": "Replay between 1 and %(max)s weeks.",
    "whatif.nothing_to_compare": "Rule %(key)s has no draft to try: change the rule and save a draft first.",
}
