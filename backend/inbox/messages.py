"""Messages for the inbox's error codes (English msgids; Chinese in inbox.po; read by backend/i18n.py)."""

ERROR_MESSAGES: dict[str, str] = {
    "inbox.not_found": "To-do %(id)s was not found.",
    "inbox.not_yours": "This to-do belongs to %(assignee)s; only they can act on it.",
    "inbox.already_closed": "This to-do was already handled (%(state)s by %(by)s).",
    "inbox.order_moved_on": "Order %(number)s has moved on to %(stage)s; this to-do no longer applies.",
    "inbox.order_closed": "Order %(number)s is %(status)s; this to-do no longer applies.",
    "inbox.approval_unavailable": "Approvals cannot be decided here yet.",
    "inbox.not_an_approval": "This to-do is not an approval.",
    "inbox.field_not_allowed": "This task does not ask for the field %(field)s.",
    "inbox.field_required": "Please fill in this field.",
    "inbox.field_invalid": "The value for %(field)s is not valid.",
    "inbox.attachment_too_large": "The attachment is larger than %(limit)s bytes.",
    "inbox.urge_too_soon": "This to-do was urged less than an hour ago.",
    "inbox.not_initiator": "Only the order's owner can urge this to-do.",
    "inbox.attachment_not_found": "Attachment %(id)s was not found.",
    "inbox.not_in_a_flow": "This to-do does not belong to a flow that could be withdrawn.",
}
