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
    # what-if runs replayed by the worker (backend/replay/runs.py); Chinese in whatif2.po
    "whatif.too_many_runs": "You already have %(max)s replays queued or running: wait for one or cancel it.",
    "whatif.run_not_found": "This replay does not exist or has expired.",
    "whatif.requester_gone": "The person who asked for this replay can no longer sign in.",
    "whatif.run_failed": "The replay failed on our side; it has been logged. Please try again.",
}
