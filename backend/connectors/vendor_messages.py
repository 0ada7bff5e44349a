"""Messages for vendor template error codes (English msgids; Chinese in vendors.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "vendor.*": "The vendor connector could not run.",
    "vendor.unknown": "There is no vendor template %(key)s.",
    "vendor.option_missing": "The setting %(name)s is required by this vendor.",
    "vendor.secret_missing": "The secret %(name)s is required by this vendor; enter it in the connector's form.",
    "vendor.login_failed": "%(vendor)s refused the sign-in: %(message)s",
    "vendor.api_error": "%(vendor)s answered an error (%(code)s): %(message)s",
    "vendor.answer_invalid": "%(vendor)s answered in an unexpected shape: %(detail)s",
    "vendor.too_many_requests": "The run reached its bound of requests; the next run reads on.",
    "vendor.timezone_invalid": "%(value)s is not a time zone (write it like Asia/Shanghai).",
}
