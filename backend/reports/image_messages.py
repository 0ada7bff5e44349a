"""Messages for chart-image error codes (English msgids; Chinese in reportimg.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "report.image_not_found": "This image link is not valid or has expired.",
}
