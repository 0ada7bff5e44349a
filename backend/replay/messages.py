"""Messages of the what-if replay's error codes (English msgids; Chinese in whatif.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "whatif.weeks_out_of_range": "Replay between 1 and %(max)s weeks.",
    "whatif.nothing_to_compare": "Rule %(key)s has no draft to try: change the rule and save a draft first.",
    # the flow what-if (backend/replay/flows.py); Chinese in flowwhatif.po
    "whatif.flow_nothing_to_compare": "Flow %(key)s has no draft to try: change the flow and save a draft first.",
    "whatif.flow_not_published": "Flow %(key)s has no published version to compare the draft with.",
    "whatif.flow_too_large": "A flow to replay may have at most %(max)s steps.",
    "whatif.flow_too_deep": "The flow nests too deeply (a condition may have at most %(max)s levels).",
}
