"""Messages for connector error codes (English msgids; Chinese in connectors.po; read by backend/i18n.py)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "connector.*": "The connector could not run.",
    "connector.not_found": "Connector %(id)s was not found.",
    "connector.name_taken": "A connector named %(name)s already exists.",
    "connector.key_unavailable": "The key for connector secrets cannot be read (set %(variable)s).",
    "connector.secrets_unreadable": "The saved secrets cannot be decrypted with this installation's key "
                                    "(%(variable)s); enter them again.",
    "connector.schedule_missing": "Give an interval in minutes or a cron line.",
    "connector.cron_invalid": "%(value)s is not a cron line (five fields: minute hour day month weekday).",
    "connector.path_invalid": "%(value)s is not a path (write it like data.items[*].id).",
    "connector.external_id_unmapped": "Choose the source field with the record's id.",
    "connector.token_url_missing": "OAuth2 needs a token URL and a client id.",
    "connector.since_invalid": "%(value)s is not a date or time.",
    "connector.http_status": "The source answered HTTP %(status)s at %(url)s.",
    "connector.http_timeout": "The source did not answer in time (%(url)s).",
    "connector.http_unreachable": "The source cannot be reached (%(url)s): %(error)s.",
    "connector.request_invalid": "The request cannot be sent (%(url)s): %(error)s; check the URL and headers.",
    "connector.oauth_failed": "The token endpoint refused the client credentials (HTTP %(status)s).",
    "connector.oauth_invalid": "The token endpoint's answer has no access_token.",
    "connector.response_too_large": "The source's answer is larger than %(limit)s bytes.",
    "connector.response_not_json": "The source did not answer JSON (content type %(content_type)s).",
    "connector.response_too_deep": "The source's answer nests deeper than %(limit)s levels.",
    "connector.records_not_found": "There is no list of records at %(path)s in the answer.",
    "connector.record_not_object": "The record is not a JSON object.",
    "connector.record_id_missing": "The record has no id at %(path)s.",
    "connector.settings_kind": "These settings are not those of a %(kind)s connector.",
    "connector.sql_cannot_connect": "Cannot connect to the database at %(host)s: %(error)s",
    "connector.sql_no_such_view": "There is no view or table %(name)s in that database.",
    "connector.sql_cursor_missing": "The view %(name)s has no cursor column %(column)s.",
    "connector.sql_key_missing": "The view %(name)s has no key column %(column)s.",
    "connector.sql_not_read_only": "The connection is not read-only; Gendan reads only over a read-only "
                                   "connection (use a login that cannot write).",
    "connector.sql_own_database": "This connection reaches Gendan's own database (%(database)s on the same "
                                  "server, whatever the host name, port or login); Gendan does not read its own "
                                  "tables. Connect to the source database.",
    "connector.sql_system_catalog": "%(name)s is in %(schema)s, the database server's own catalog (it describes "
                                    "every database on the server); choose a view of the source's orders.",
    "connector.sql_driver_missing": "The database driver %(driver)s is not installed on this server.",
    "connector.sql_query_failed": "Reading the view failed: %(error)s",
    "connector.sql_ties_too_many": "More than %(limit)s rows share one value of %(column)s; choose a key column.",
    "connector.owner_inactive": "The connector's owner (%(id)s) is no longer an active administrator.",
    "connector.run_internal": "The run stopped on an unexpected error (%(error)s); the details are in the "
                              "server log.",
    "connector.folder_outside": "The folder %(path)s is not inside the allowed folder %(root)s.",
    "connector.folder_missing": "The folder %(path)s does not exist.",
    "connector.folder_empty": "No file matching %(pattern)s is waiting in the folder.",
    "connector.file_too_large": "The file is larger than %(limit)s bytes.",
    "connector.file_unreadable": "The file cannot be read: %(error)s.",
    "connector.file_too_many_rows": "The file has more than %(limit)s rows.",
    "connector.paused_title": "Connector %(name)s paused itself",
    "connector.paused": "Connector %(name)s failed %(count)s times in a row and is paused: %(error)s",
}
