"""Messages for the command line's error codes (English msgids; read by backend/i18n.py)."""

ERROR_MESSAGES: dict[str, str] = {
    "cli.database_not_migrated": "The database %(database)s has no Gendan tables yet: run `gendan migrate` first.",
    "cli.database_unreachable": "Cannot reach the database %(database)s: %(detail)s",
    "cli.file_missing": "There is no file %(path)s.",
    "cli.mapping_invalid": "The mapping file %(path)s cannot be used: %(detail)s",
    "cli.no_admin": "No active admin %(user)s to import as: create one with `gendan user create admin --role admin`.",
    "cli.invalid_count": "%(name)s must be between %(min)s and %(max)s.",
    "settings.secret_key_public": "The secret key in %(variable)s is the public example or empty: anyone could "
                                  "forge sign-ins with it. Set GENDAN_SECRET_KEY to a long random value, or unset "
                                  "it to have a key generated in the data directory.",
    "settings.secret_key_unavailable": "Cannot read or create the secret key file %(path)s (%(detail)s): make the "
                                       "data directory writable, or set GENDAN_SECRET_KEY.",
    "settings.secret_key_generated": "Generated a secret key in %(path)s (keep it private and back it up with the "
                                     "data; every server of one installation needs the same key).",
}
