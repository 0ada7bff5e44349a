"""Messages for rule error codes and validation issues (English msgids; Chinese in rules.po).

The engine returns codes and params only; `register()` adds these sentences to the shared error
table at start-up.
"""

from __future__ import annotations

from backend import i18n

MESSAGES: dict[str, str] = {
    "rule.*": "The rule is not valid.",
    "rule.schema_missing": "This is required.",
    "rule.schema_string_too_short": "This cannot be empty.",
    "rule.schema_string_too_long": "This is too long.",
    "rule.schema_string_pattern_mismatch": "This does not have the expected form.",
    "rule.schema_string_type": "This must be text.",
    "rule.schema_greater_than": "This number is too small.",
    "rule.schema_greater_than_equal": "This number is too small.",
    "rule.schema_less_than_equal": "This number is too large.",
    "rule.schema_int_parsing": "This must be a whole number.",
    "rule.schema_float_parsing": "This must be a number.",
    "rule.schema_literal_error": "Choose one of the offered values.",
    "rule.schema_union_tag_invalid": "Unknown kind of action or trigger.",
    "rule.schema_extra_forbidden": "Unknown setting.",
    "rule.not_found": "Rule %(key)s was not found.",
    "rule.no_draft": "Rule %(key)s has no draft to publish.",
    "rule.not_published": "Rule %(key)s has no published version.",
    "rule.definition_invalid": "The rule has %(count)s problem(s); they are marked in the designer.",
    "rule.confirm_required": "Please confirm before enabling: %(warnings)s.",
    "rule.condition_not_json": "The condition must be JSON.",
    "rule.condition_empty": "Add at least one condition.",
    "rule.time_condition_not_compilable": "A time rule's condition must run as a database scan (%(reason)s); use an event trigger or simplify it.",
    "rule.trigger_without_events": "Choose at least one event that triggers the rule.",
    "rule.every_hours_missing": "Set after how many hours the rule may fire again.",
    "rule.every_time_needs_events": "Firing on every event needs an event trigger; a time rule would fire at every scan.",
    "rule.no_actions": "Add at least one action.",
    "rule.assignee_user_missing": "Choose the user.",
    "rule.assignee_role_missing": "Choose the role.",
    "rule.title_empty": "The title cannot be empty.",
    "rule.no_recipients": "Choose who is notified.",
    "rule.field_not_settable": "Field %(field)s cannot be set by a rule.",
    "rule.value_type_mismatch": "The value does not fit field %(field)s (%(type)s).",
    "rule.template_syntax": "The template has a syntax error: %(message)s.",
    "rule.template_unknown_name": "The template names a field that does not exist: %(message)s.",
    "rule.template_forbidden": "The template uses something that is not allowed.",
    "rule.template_error": "The template cannot be rendered: %(message)s.",
    "rule.limit_depth": "This is nested too deeply: at most %(max)s levels.",
    "rule.limit_operands": "Operator %(operator)s has %(count)s operands; at most %(max)s are allowed.",
    "rule.limit_list": "This list has %(count)s items; at most %(max)s are allowed.",
    "rule.limit_nodes": "The condition is too large: at most %(max)s parts.",
    "rule.limit_string": "This text has %(length)s characters; at most %(max)s are allowed.",
    "rule.number_not_finite": "Numbers must be finite; %(value)s cannot be stored.",
    "rule.text_bad_character": "The text contains a character that cannot be stored (%(character)s).",
    "rule.template_too_long": "The template is too long: at most %(max)s characters.",
    "rule.template_output_too_large": "The template's text would be too long: at most %(max)s characters.",
    "rule.template_too_costly": "The template asks for too much work (%(message)s).",
    "rule.paused_title": "Rule %(key)s was paused",
    "rule.paused": "Rule %(key)s was paused: the database could not run its condition (%(error)s). Simplify the condition and enable it again.",
    "rule.matches_every_order": "This condition matches every order.",
    "rule.event_only": "This condition cannot run as a scan; the rule runs on events only.",
    "rule.assignee_unresolved": "Nobody fits the assignee %(assignee)s for this order.",
    "rule.assignee_fallback": "Nobody fits the assignee “%(assignee)s” for this order; it went to “%(to)s” instead.",
    "rule.compile.*": "This condition cannot run as a database scan.",
    "logic.*": "The condition is not valid.",
    "logic.unknown_operator": "Unknown operator %(operator)s.",
    "logic.bad_arity": "Operator %(operator)s got %(count)s argument(s).",
    "logic.unknown_field": "Unknown field %(field)s.",
    "logic.type_mismatch": "Field %(field)s is a %(type)s and cannot be compared with %(value)s.",
    "logic.object_not_operation": "Each condition object must have exactly one operator.",
}


def register() -> None:
    i18n.register_error_messages(MESSAGES)
