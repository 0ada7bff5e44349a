"""Messages for notification, outbox and channel error codes (English msgids; read by backend/i18n.py)."""

ERROR_MESSAGES: dict[str, str] = {
    "notification.not_found": "Notification %(id)s was not found.",
    "outbox.not_found": "Outbox message %(id)s was not found.",
    "outbox.attachment_too_large": "The attachment is too large (at most %(limit)s bytes).",
    "outbox.already_queued": "Message %(id)s is already queued (%(state)s).",
    "channel.not_found": "Channel configuration %(id)s was not found.",
    "channel.name_taken": "A channel configuration named %(name)s already exists.",
    "channel.invalid_kind": "Unknown channel kind %(kind)s.",
    "channel.invalid_target": "The address %(target)s is not valid for %(kind)s.",
    "preference.invalid_time": "%(value)s is not a time like 22:00.",
    "preference.invalid_channel": "Unknown channel %(channel)s.",
}
