"""The bulk path's fast paths (issue 13, bulkpy) give exactly what the general code they skip gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects.postgresql import psycopg

from backend.audit import service as audit
from backend.bulk_insert import _utc
from backend.ingest.records import _SOURCE
from backend.models_base import UTCDateTime
from backend.pipeline import changed_fields


class _Kind(StrEnum):
    A = "a"


class _List(list):
    pass


def _general_diff(before: dict, after: dict) -> tuple[dict, dict]:
    """audit.diff's general loop (what it did for a create before the fast path)."""
    old, new = {}, {}
    for name in dict.fromkeys([*before, *after]):
        was, now_ = audit._jsonable(before.get(name)), audit._jsonable(after.get(name))
        if was == now_:
            continue
        if name in before:
            old[name] = audit.REDACTED if name in audit.SECRET_FIELDS and was is not None else was
        if name in after:
            new[name] = audit.REDACTED if name in audit.SECRET_FIELDS and now_ is not None else now_
    return old, new


def test_audit_create_rows_match_the_general_diff():
    after = {"code": "C1", "name": "N", "tier": None, "owner_id": 0, "flag": False, "empty": "", "amount": Decimal("1.50"),
             "day": date(2026, 1, 2), "at": datetime(2026, 1, 2, 3, tzinfo=UTC), "kind": _Kind.A, "tags": {"b", "a"},
             "data": {"k": [Decimal("2")]}, "password": "x", "token": None, "ratio": 0.0}
    assert audit.diff({}, after) == _general_diff({}, after)
    assert list(audit.diff({}, after)[1]) == list(_general_diff({}, after)[1])  # the same key order
    assert audit.diff({"code": "C0"}, after) == _general_diff({"code": "C0"}, after)


def test_new_order_changed_fields_skip_none_and_empty_collections_only():
    after = {"a": None, "b": [], "c": {}, "d": 0, "e": False, "f": "", "g": Decimal(0), "h": [1], "i": {"x": 1},
             "j": _List(), "k": (), "l": 0.0, "m": "x"}
    assert changed_fields(None, after) == frozenset(k for k, v in after.items() if v not in (None, [], {}))


@pytest.mark.parametrize("value", [None, datetime(2026, 1, 1, tzinfo=UTC),
                                   datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
                                   datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3)))])
def test_copy_utc_conversion_is_the_columns_bind_processor(value):
    dialect = psycopg.dialect()
    expected = UTCDateTime()._cached_bind_processor(dialect)(value)
    assert _utc(value) == expected and repr(_utc(value)) == repr(expected)


def test_copy_utc_conversion_refuses_naive():
    with pytest.raises(ValueError):
        _utc(datetime(2026, 1, 1))


@pytest.mark.parametrize("source", ["api", "erp-2", "a_b", "", "API", "a b", "abc\n", "é", "１", "a.b", "x" * 40])
def test_bulk_api_source_pattern_is_the_character_rule(source):
    rule = bool(source) and all(c.isascii() and (c.isalnum() and not c.isupper() or c in "_-") for c in source)
    assert bool(_SOURCE.fullmatch(source)) == rule
