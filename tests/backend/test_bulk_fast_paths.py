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


# --- bulk5: the batched check of new orders (backend/ingest/bulk.py:checked_new) ----------------

_AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def _new_order_values(stage: str, data: dict) -> dict:
    from backend.ingest import bulk

    return {**bulk._order_defaults(), "number": "N-1", "customer_id": 7, "owner_id": 3, "amount": Decimal("12.50"),
            "currency": "CNY", "stage": stage, "status": "open", "stage_entered_at": _AT,
            "planned_delivery": date(2027, 1, 2), "payment_due": None, "source": "bk5", "external_id": "X-1",
            "data": dict(data), "tags": ["a"], "risk_flags": [], "version": 1, "created_at": _AT, "updated_at": _AT}


@pytest.mark.parametrize("status", [None, "open", "cancelled", "completed"])
@pytest.mark.parametrize("stage", ["draft", "production", "shipping", "delivered", "payment", "completed", "qa"])
@pytest.mark.parametrize("data", [{}, {"note": "x", "size": 3}])
def test_bulk5_checked_new_leaves_what_the_pipeline_checks_leave(session, status, stage, data):
    from backend.ingest import bulk
    from backend.ingest import service as ingest
    from backend.pipeline import OrderChange
    from backend.pipeline import of as pipeline_of

    line = pipeline_of(session)
    assert bulk._standard_checks(session, line)  # the standard pipeline, no form published
    general = bulk.light_order(_new_order_values(stage, data))
    token = ingest._pending_status.set(status)
    try:
        checked = line.check(session, OrderChange.of(general, before=None, actor=None, via="import", now=_AT))
    finally:
        ingest._pending_status.reset(token)
    values = _new_order_values(stage, data)
    bulk.checked_new(values, status, _AT)
    fast = bulk.light_order(values)
    change = OrderChange.of(fast, before=None, actor=None, via="import", now=_AT)

    assert {k: fast.__dict__[k] for k in bulk._ORDER_COLUMNS} == {k: general.__dict__[k] for k in bulk._ORDER_COLUMNS}
    assert fast.__pydantic_fields_set__ == general.__pydantic_fields_set__
    for name in ("before", "after", "changed_fields", "via", "now", "is_new", "depth", "event_type", "note"):
        assert getattr(change, name) == getattr(checked, name), name
    # the cases differ where they should (so the comparison compares something)
    assert (general.status, general.closed_at) == ((status, _AT) if status in ("cancelled", "completed") else ("open", None))
    assert (general.delivered_at == _AT) == (stage in ("delivered", "payment", "completed"))
    assert general.stages_entered != 0


def test_bulk5_checked_new_stands_only_for_the_standard_checks(session):
    from backend.ingest import bulk
    from backend.pipeline import NamedStage, Pipeline
    from backend.pipeline import of as pipeline_of

    line = pipeline_of(session)
    assert bulk._standard_checks(session, line)
    assert not bulk._standard_checks(session, Pipeline(checks=line.checks[:-1], stages=line.stages))
    assert not bulk._standard_checks(session, Pipeline(checks=(*line.checks, NamedStage("extra", lambda s, c: None)),
                                                       stages=line.stages))
    assert not bulk._standard_checks(session, Pipeline(stages=line.stages))


def test_bulk5_insert_rows_from_object_dicts_writes_what_row_dicts_write(session):
    """`columns=` (the bulk path's orders, read from their objects' dicts) writes the same rows as
    dicts of exactly those columns."""
    from sqlalchemy import select

    from backend.bulk_insert import insert_rows
    from backend.ingest import bulk
    from backend.orders.models import Order
    from tests.factories.orders import make_customer
    from tests.factories.people import make_user

    customer, owner = make_customer(session, name="BK5 Co"), make_user(session, username="bk5.owner")
    session.flush()

    def orders(label: str) -> list:
        made = []
        for n in range(60):  # past any small-batch cut-over
            values = _new_order_values("production" if n % 2 else "delivered", {"n": n} if n % 3 else {})
            values.update(number=f"BK5-{label}{n}", external_id=f"{label}{n}", customer_id=customer.id,
                          owner_id=owner.id)
            bulk.checked_new(values, "completed" if n % 5 == 0 else None, _AT)
            made.append(bulk.light_order(values))
        return made

    from_objects, from_dicts = orders("A"), orders("B")
    insert_rows(session, Order.__table__, [o.__dict__ for o in from_objects], ids=True, background=True,
                columns=bulk._ORDER_COLUMNS)
    insert_rows(session, Order.__table__, [{k: o.__dict__[k] for k in bulk._ORDER_COLUMNS} for o in from_dicts],
                ids=True, background=True)
    session.commit()
    table = Order.__table__
    rows = {r["external_id"]: {k: v for k, v in r.items() if k not in ("id", "number", "external_id")}
            for r in session.connection().execute(select(table).where(table.c.source == "bk5")).mappings()}
    assert len(rows) == 120
    for n in range(60):
        assert rows[f"A{n}"] == rows[f"B{n}"], n
    assert {r["status"] for r in rows.values()} == {"open", "completed"}
