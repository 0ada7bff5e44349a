"""Keyset (seek) paging: stable under inserts, as fast on page 1,000 as on page 1.

A cursor is the sort value and id of the last row shown, base64-encoded JSON. The ordering is
always (sort column, id) so ties are broken the same way on every page.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_

from backend.errors import GendanError

# planned_delivery may be null: nulls sort as this date so that the seek condition stays simple
NULL_DATE = date(9999, 12, 31)


def encode_cursor(value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        raw = ["dt", value.isoformat()]
    elif isinstance(value, date):
        raw = ["d", value.isoformat()]
    elif isinstance(value, Decimal):
        raw = ["n", str(value)]
    else:
        raw = ["s", value]
    return base64.urlsafe_b64encode(json.dumps([raw, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        (kind, raw), row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value: Any = {
            "dt": datetime.fromisoformat, "d": date.fromisoformat, "n": Decimal, "s": str,
        }[kind](raw)
        return value, int(row_id)
    except Exception as exc:  # any malformed cursor is the caller's error, not ours
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={"cursor": ("field.value_error", {"field": "cursor"})}) from exc


def seek_clause(column, id_column, value: Any, row_id: int, descending: bool):
    if descending:
        return or_(column < value, and_(column == value, id_column < row_id))
    return or_(column > value, and_(column == value, id_column > row_id))
