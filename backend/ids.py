"""The one bound on ids that come from outside: every id column is a 32-bit INTEGER on PostgreSQL
(SQLite would take up to 2^63), so an id past it names no row on either database. Checked where
the id arrives, each in its own way, so a too-large id fails its record (an import record, a
webhook delivery, a body field, a path or query parameter) with this message rather than reaching
the database, where PostgreSQL refused the whole statement (a 422 or 500 for the whole request)
and SQLite answered "not found".

    bulk API records (ingest/records.py)   id_problem(): the record's own error, the others go on
    order bodies and webhooks              RecordId in OrderCreate / OrderUpdate (schemas)
    path and query integers                backend/params.py bounds them by ID_MAX
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

ID_MAX = 2**31 - 1  # PostgreSQL INTEGER

ERROR_MESSAGES: dict[str, str] = {  # English msgids (read by backend/i18n.py); Chinese in errors.po
    "field.id_out_of_range": "No record has this id: ids are whole numbers from 1 to %(max)s.",
}


def id_problem(value: Any) -> str | None:
    """None for an id that can name a row; else the error code: not a whole number, or outside
    1..ID_MAX."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "field.int_type"
    if not 0 < value <= ID_MAX:
        return "field.id_out_of_range"
    return None


def _in_range(value: int) -> int:
    """Refuses what the column cannot hold; 0 and negative ids fit it and are answered "not found"
    by the look-up (the CSV import validates its new customers' orders with a 0 placeholder)."""
    if not -ID_MAX - 1 <= value <= ID_MAX:
        # the type becomes the code `field.id_out_of_range` (backend/errors.py, ingest's row errors)
        raise PydanticCustomError("id_out_of_range", ERROR_MESSAGES["field.id_out_of_range"], {"max": ID_MAX})
    return value


#: an id field of a body: a whole number the id column can hold (-2^31..ID_MAX; below 1 names no row)
RecordId = Annotated[int, AfterValidator(_in_range)]
