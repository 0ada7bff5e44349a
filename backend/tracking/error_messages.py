"""Messages for the tracking page's and the customer conversation's error codes (English msgids;
Chinese in tracking.po; read by backend/i18n.py). Named apart from messages.py, which is the
customer conversation itself."""

ERROR_MESSAGES: dict[str, str] = {
    "tracking.not_found": "This tracking link is not valid.",
    "tracking.urge_too_soon": "We already have your reminder from %(minutes)s minutes ago and are on it.",
    "tracking.unknown_milestone": "Unknown milestone %(milestone)s.",
    "message.empty": "Please write your message.",
    "message.too_long": "Your message has %(length)s characters; at most %(max)s fit.",
    "message.contact_too_long": "Your contact details are too long (at most %(max)s characters).",
    "message.too_many": "You have sent %(count)s messages in the last hour. Please wait %(minutes)s minutes, "
                        "or call your contact.",
}
