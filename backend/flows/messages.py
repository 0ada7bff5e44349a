"""Messages for flow error codes and validation issues (English msgids; Chinese in flows.po).

The engine returns codes and params only; this table turns them into sentences (backend/i18n.py
reads it on the first translation; their HTTP statuses are in backend/errors.py).
"""

from __future__ import annotations

from typing import Any

from backend import i18n

# the words of a to-do's outcome and a flow's status that error messages name, as the page says
# them (msgctxt "flow_word" in flows_words.po); backend/i18n.py translates a param by its code here
_OUTCOMES = {"approved": "approved", "rejected": "rejected", "completed": "completed", "done": "done",
             "sent_back": "returned", "superseded": "superseded", "cancelled": "cancelled"}
_STATUSES = {"not_started": "not started", "running": "running", "sent_back": "returned", "rejected": "rejected",
             "withdrawn": "withdrawn", "completed": "completed", "cancelled": "cancelled"}
PARAM_WORDS: dict[str, dict[str, dict[str, str]]] = {
    "flow.task_closed": {"outcome": _OUTCOMES},
    "flow.not_running": {"status": _STATUSES},
}
WORD_CONTEXT = "flow_word"

ERROR_MESSAGES: dict[str, str] = {
    # refused actions
    "flow.not_found": "Flow %(key)s was not found.",
    "flow.no_draft": "Flow %(key)s has no draft to publish.",
    "flow.not_published": "Flow %(key)s has no published version.",
    "flow.instance_not_found": "This order has no such flow.",
    "flow.conflict": "Someone else changed this flow at the same moment. Reload and try again.",
    "flow.task_not_found": "This to-do does not exist.",
    "flow.task_closed": "This to-do is already closed (%(outcome)s).",
    "flow.task_not_active": "This to-do is not your turn yet.",
    "flow.not_assignee": "This to-do belongs to someone else.",
    "flow.wrong_action": "This action does not fit this kind of to-do.",
    "flow.not_running": "The flow is not running (%(status)s).",
    "flow.already_started": "The flow has already started.",
    "flow.not_initiator": "Only the person who started the flow may do this.",
    "flow.already_decided": "Someone already decided; the order can no longer be withdrawn.",
    "flow.nothing_to_urge": "There is no open to-do to urge.",
    "flow.stage_held": "The flow %(key)s is running on this order and moves its stage; act on its to-dos instead.",
    "flow.cannot_resubmit": "Only a rejected, withdrawn or returned order can be resubmitted.",
    "flow.send_back_target_missing": "Choose the step to return to.",
    "flow.send_back_target_invalid": "The order cannot be returned to step %(node_key)s.",
    "flow.transfer_target_missing": "Choose who takes over the to-do.",
    "flow.comment_empty": "Write a comment first.",
    "flow.transfer_to_self": "You cannot transfer a to-do to yourself.",
    "flow.user_inactive": "User %(user_id)s is not active.",
    "flow.signer_invalid": "These people cannot be added as approvers: %(user_ids)s.",
    "flow.required_fields_missing": "Fill in these fields first: %(fields)s.",
    "flow.field_not_editable": "These fields cannot be changed at this step: %(fields)s.",
    "flow.field_not_a_date": "These fields need a date (YYYY-MM-DD): %(fields)s.",
    "flow.timer_stale": "This timer is no longer current.",
    "flow.loop_limit": "The flow loops through automatic steps without stopping (at %(node_key)s).",
    "flow.dead_end": "Step %(node_key)s has no way forward.",
    "flow.migrate_parallel_unsupported": "Orders inside parallel branches cannot be moved to another version.",
    "flow.migrate_target_unknown": "Step %(node_key)s has no counterpart in the new version; map it.",
    "flow.migrate_target_invalid": "Step %(node_key)s cannot be mapped onto that kind of step.",
    "flow.naive_now": "Internal error: time without time zone.",
    # validation issues (publishing)
    "flow.definition_invalid": "The flow has %(count)s problem(s); they are marked on the canvas.",
    "flow.duplicate_node": "Two steps share the key %(node)s.",
    "flow.duplicate_edge": "Two connections share the key %(edge)s.",
    "flow.edge_unknown_node": "Connection %(edge)s points to a missing step.",
    "flow.no_start": "The flow needs a start.",
    "flow.multiple_starts": "The flow may have only one start.",
    "flow.no_end": "The flow needs an end.",
    "flow.start_has_incoming": "Nothing may lead into the start.",
    "flow.end_has_outgoing": "Nothing may leave an end.",
    "flow.no_outgoing": "This step has no way forward.",
    "flow.too_many_outgoing": "This step may have only one way forward; use a branch for more.",
    "flow.split_needs_branches": "A parallel split needs at least two branches.",
    "flow.join_needs_branches": "A parallel join needs at least two incoming branches.",
    "flow.unreachable_node": "This step cannot be reached from the start.",
    "flow.end_unreachable": "No end can be reached from this step.",
    "flow.cycle_without_exit": "These steps form a loop with no way out.",
    "flow.branch_needs_default": "A branch needs a default path.",
    "flow.branch_multiple_defaults": "A branch may have only one default path.",
    "flow.condition_missing": "Connection %(edge)s needs a condition or must be the default.",
    "flow.condition_invalid": "The condition of connection %(edge)s is not valid JSON-logic.",
    "flow.condition_field_unknown": "The condition of %(edge)s uses an unknown field %(field)s.",
    "flow.condition_outside_branch": "Only connections leaving a branch carry conditions.",
    "flow.split_without_join": "The branches of this parallel split never meet at one join.",
    "flow.join_without_split": "This join does not close a parallel split.",
    "flow.join_mismatch": "This join is fed by branches from different places.",
    "flow.approver_missing": "Choose who handles this step.",
    "flow.approver_unresolvable": "Nobody active can handle this step (and there is no fallback).",
    "flow.approver_field_unknown": "The approver field %(field)s does not exist.",
    "flow.field_unknown": "Field %(field)s does not exist.",
    "flow.external_party_missing": "Choose the company this step is given to.",
    "flow.external_party_both": "Choose either one company or the order's field naming it, not both.",
    "flow.external_party_field_invalid": "%(field)s cannot name the company: choose a field of the order form, "
                                         "and only for a supplier or carrier step.",
    "flow.external_done_field_not_editable": "The company can only complete the step with %(field)s if the step "
                                             "lets it edit that field (field permissions).",
    "flow.reassign_target_missing": "Choose who takes over after the time limit.",
    "flow.recipient_missing": "Choose who gets the copy.",
    "flow.wait_needs_until": "A wait needs a date field or a duration.",
    "flow.auto_step_empty": "An automatic step must set a field or call a webhook.",
    "flow.webhook_url_invalid": "The webhook address must start with http:// or https://.",
    "flow.schema_invalid": "The flow file is not valid: %(msg)s",
    "flow.too_deep": "The flow nests too deeply: at most %(max)s levels (conditions included).",
    "flow.bpmn_invalid": "The BPMN file cannot be read.",
    "flow.bpmn_unsupported": "BPMN element %(element)s is not supported.",
    "flow.bpmn_too_large": "The BPMN file is too large.",
    # auto-decisions (docs/decisions-auto.md)
    "flow.auto_condition_invalid": "The auto-approval condition of this step cannot be used (%(problems)s). Fix it or switch auto-approval off; a step whose condition fails is decided by people.",
    "flow.auto_condition_field_unknown": "The auto-approval condition uses an unknown field %(field)s.",
    "flow.auto_approval_not_found": "Step %(node_key)s was not approved automatically, or has been decided since: there is nothing to undo.",
    "flow.backtest_node_invalid": "Step %(node_key)s is not an approval step of this flow.",
}


def render(code: str, params: dict[str, Any]) -> str:
    """The issue or error as a sentence in the request's language."""
    template = ERROR_MESSAGES.get(code, code)
    text = i18n.translations(i18n.get_locale()).ugettext(template)
    safe = {k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in params.items()}
    try:
        return text % safe if "%(" in text else text
    except (KeyError, ValueError, TypeError):
        return text
