"""The set-based write of a chunk's changed orders (backend/effects.py `update_orders`, PostgreSQL;
elsewhere the flush writes them): the same rows as the unit of work's flush, the version bumped,
the mapper's update events run for each order (the live order pages), nothing left for the flush."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import event, select

from backend.effects import update_orders
from backend.orders.models import Order
from tests.factories.orders import T0, make_order
from tests.factories.people import make_user

COLUMNS = ("risk_flags", "tags", "data", "version", "updated_at", "amount", "stage", "stage_entered_at",
           "planned_delivery", "priority_score")


def _change(order: Order, n: int) -> None:
    order.risk_flags = [*order.risk_flags, "late"]
    order.tags = [*order.tags, f"t{n % 2}"]
    order.data = {**order.data, "note": f"n{n % 2}", "weight": 1.5}
    order.version += 1
    order.updated_at = T0 + timedelta(hours=3)
    if n % 2:  # two sets of changed columns: one statement each
        order.amount = Decimal("12.30")
        order.stage, order.stage_entered_at = "production", T0 + timedelta(hours=3)
        order.planned_delivery = (T0 + timedelta(days=9)).date()


def test_set_based_update_writes_what_the_flush_writes(session):
    owner = make_user(session)
    mine = [make_order(session, owner=owner, stage="approval") for _ in range(4)]
    flushed = [make_order(session, owner=owner, stage="approval") for _ in range(4)]
    session.flush()
    updated: list[int] = []

    def seen(_mapper, _connection, target):
        updated.append(target.id)

    event.listen(Order, "after_update", seen)
    try:
        for n, order in enumerate(mine):
            _change(order, n)
        for n, order in enumerate(flushed):
            _change(order, n)
        update_orders(session, mine)
        if session.get_bind().dialect.name == "postgresql":
            assert not any(session.is_modified(o) for o in mine)  # written: nothing left for the flush
            assert sorted(updated) == sorted(o.id for o in mine)
        session.flush()
    finally:
        event.remove(Order, "after_update", seen)
    assert sorted(updated) == sorted(o.id for o in (*mine, *flushed))  # each order's update event once
    ids = [o.id for o in (*mine, *flushed)]
    session.expire_all()
    rows = {r.id: r for r in session.connection().execute(select(Order.__table__).where(Order.id.in_(ids)))}
    for a, b in zip(mine, flushed, strict=True):
        assert {c: getattr(rows[a.id], c) for c in COLUMNS} == {c: getattr(rows[b.id], c) for c in COLUMNS}
    assert all(rows[o.id].version == 2 and rows[o.id].risk_flags == ["late"] for o in mine)
    assert rows[mine[1].id].amount == Decimal("12.30") and rows[mine[1].id].stage == "production"


def test_a_new_order_is_left_to_the_flush(session):
    owner = make_user(session)
    orders = [make_order(session, owner=owner, stage="approval") for _ in range(2)]
    session.flush()
    new = Order(number="NEW-UPD", customer_id=orders[0].customer_id, owner_id=owner.id, amount=Decimal(1),
                stage="approval", stage_entered_at=T0, created_at=T0, updated_at=T0)
    session.add(new)
    for order in orders:
        order.risk_flags = ["late"]
        order.version += 1
    update_orders(session, [*orders, new])
    if session.get_bind().dialect.name == "postgresql":
        assert new in session.new and not session.is_modified(orders[1])
    session.flush()
    session.expire_all()
    ids = [o.id for o in orders]
    assert [o.risk_flags for o in session.exec(select(Order).where(Order.id.in_(ids))).scalars()] == [["late"]] * 2
    assert session.get(Order, new.id).number == "NEW-UPD"
