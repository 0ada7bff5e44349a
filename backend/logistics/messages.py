"""Messages for logistics error codes (English msgids; Chinese in logistics.po; read by backend/i18n.py)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "logistics.*": "The tracking source could not be used.",
    "logistics.source_not_found": "Tracking source %(id)s was not found.",
    "logistics.name_taken": "A tracking source named %(name)s already exists.",
    "logistics.url_invalid": "Enter the query address, starting with http:// or https://.",
    "logistics.poll_minutes_invalid": "Poll every 1 to 10080 minutes.",
    "logistics.bad_credentials": "The tracking source refused the customer id or key (%(code)s: %(message)s).",
    "logistics.unknown_number": "The tracking source does not know this tracking number (%(message)s).",
    "logistics.request_refused": "The tracking source refused the query (%(code)s: %(message)s).",
    "logistics.source_busy": "The tracking source is busy (%(code)s); it is asked again later.",
    "logistics.answer_not_json": "The tracking source did not answer JSON (content type %(content_type)s); "
                                 "check the query address.",
    "logistics.answer_invalid": "The tracking source's answer has no list of tracking events.",
    "logistics.answer_too_large": "The tracking source's answer is larger than %(limit)s bytes.",
    "logistics.http_status": "The tracking source answered HTTP %(status)s at %(url)s.",
    "logistics.timeout": "The tracking source did not answer in time (%(url)s).",
    "logistics.unreachable": "The tracking source cannot be reached (%(url)s): %(error)s.",
    "logistics.push_invalid": "The push is not in the expected shape (form fields param and sign, "
                              "param holding lastResult).",
    "logistics.push_signature_invalid": "The push's signature does not match this source's salt.",
}
