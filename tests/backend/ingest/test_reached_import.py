"""Imports keep the order row's `delivered_at` and `stages_entered` (engine/reports/reached.py): the
set-based bulk path (the pipeline's checks per new order, updates through the order service) and
the history replay (written from its plan, and moved on by a newer export) leave what the event log
says (tests/factories/order_events.reached_by_events)."""

from __future__ import annotations

from backend.auth.service import load_actor
from backend.ingest import copyrows
from backend.orders.models import Order
from engine.reports.reached import STAGE_BITS
from tests.backend.ingest.test_bulk import (
    FIRST,
    SECOND,
    org,  # noqa: F401  (fixture)
)
from tests.backend.ingest.test_bulk import _import as bulk_import
from tests.backend.ingest.test_history_replay import (
    _content,
    _order,
    admin,  # noqa: F401  (fixture)
    utc,
)
from tests.backend.ingest.test_history_replay import _import as history_import
from tests.factories.order_events import reached_by_events, reached_stored


def test_the_bulk_path_keeps_delivery_and_stages(session, connection, org):  # noqa: F811
    actor = load_actor(session, org["admin"].id)
    for content in (FIRST, SECOND):
        bulk_import(session, connection, actor, content, bulk_path=True, batch_size=200)
    session.expire_all()
    done = session.exec(Order.__table__.select().where(Order.external_id == "BK-3")).one()
    assert done.stage == "delivered" and done.delivered_at is not None  # imported delivered: delivered when created
    moved = session.exec(Order.__table__.select().where(Order.external_id == "BK-2")).one()
    assert moved.stages_entered == STAGE_BITS["shipping"] | STAGE_BITS["delivered"]  # shipping, then delivered
    assert reached_stored(session) == reached_by_events(session)


def test_the_history_replay_keeps_delivery_and_stages(session, connection, admin, monkeypatch):  # noqa: F811
    monkeypatch.setattr(copyrows, "COPY_MIN_ROWS", 1)  # PostgreSQL writes with COPY even these few rows
    history_import(session, connection, admin, _content())
    delivered = _order(session, "e481f51cbdc54678b7cc49136f2d6af7")
    assert delivered.delivered_at == utc("2017-10-11 00:25:13")
    assert delivered.stages_entered == STAGE_BITS["draft"] | STAGE_BITS["approval"] | STAGE_BITS["shipping"] \
        | STAGE_BITS["delivered"]
    shipped = _order(session, "36530871a5e80138db53bcfd8a104d90")
    assert shipped.delivered_at is None
    assert reached_stored(session) == reached_by_events(session)
    # a newer export of the shipped order: delivered now, as history
    row = _content((75,)).decode().splitlines()
    newer = row[1].replace(",shipped,", ",delivered,").replace(",,2017-", ",2017-05-16 09:00:00,2017-")
    history_import(session, connection, admin, (row[0] + "\n" + newer + "\n").encode())
    session.expire_all()
    shipped = _order(session, "36530871a5e80138db53bcfd8a104d90")
    assert shipped.delivered_at == utc("2017-05-16 12:00:00") and shipped.stages_entered & STAGE_BITS["delivered"]
    assert reached_stored(session) == reached_by_events(session)
