"""Messages for the command line's error codes (English msgids; read by backend/i18n.py)."""

ERROR_MESSAGES: dict[str, str] = {
    "cli.database_not_migrated": "The database %(database)s has no Gendan tables yet: run `gendan migrate` first.",
    "cli.database_unreachable": "Cannot reach the database %(database)s: %(detail)s",
    "cli.invalid_count": "%(name)s must be between %(min)s and %(max)s.",
}
