"""Error messages of live updates (English msgids; Chinese in frontend/locale/zh_CN/LC_MESSAGES/live.po)."""

ERROR_MESSAGES = {
    "live.part_not_found": "The order page has no part named %(part)s.",
}
