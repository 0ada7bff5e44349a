"""Messages for the second set of vendor templates and update-only templates (English msgids;
Chinese in vendors2.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "vendor.order_not_found": "No order has the number or external id %(ref)s; this record updates "
                              "existing orders only.",
}
