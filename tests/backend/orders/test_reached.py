"""The order row keeps `delivered_at` and `stages_entered` (engine/reports/reached.py) through every
way an order changes: created, updated, moved by an effect, signed for by a person — always what the
order's event log and signature say (tests/factories/order_events.reached_by_events)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from backend.auth.service import load_actor
from backend.effects import apply_effects
from backend.orders import service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate
from engine import effects as fx
from engine.reports.reached import OTHER_STAGE_BIT, STAGE_BITS
from tests.factories.order_events import reached_by_events, reached_stored
from tests.factories.orders import make_customer
from tests.factories.people import make_user

B = STAGE_BITS


def _create(session, actor, now, stage="draft") -> Order:
    read, _ = service.create_order(session, actor=actor, now=now, payload=OrderCreate(
        customer_id=make_customer(session).id, amount=Decimal(10), stage=stage))
    return session.get(Order, read.id)


def _move(session, actor, order, now, **changes) -> Order:
    service.update_order(session, actor=actor, order_id=order.id, now=now,
                         payload=OrderUpdate(version=order.version, **changes))
    session.refresh(order)
    return order


def test_stages_entered_and_first_delivery_as_the_order_moves(session, now):
    actor = load_actor(session, make_user(session, roles=["sales"]).id)
    order = _create(session, actor, now)
    assert (order.stages_entered, order.delivered_at) == (B["draft"], None)
    _move(session, actor, order, now + timedelta(hours=1), stage="production")
    _move(session, actor, order, now + timedelta(hours=2), stage="delivered")
    _move(session, actor, order, now + timedelta(hours=3), stage="production")  # sent back
    _move(session, actor, order, now + timedelta(hours=4), stage="completed")
    _move(session, actor, order, now + timedelta(hours=5), amount=Decimal(11))  # not a move
    assert order.delivered_at == now + timedelta(hours=2)  # the first time, not the last
    assert order.stages_entered == B["draft"] | B["production"] | B["delivered"] | B["completed"]
    # created straight in a later stage, or in a stage of the installation's own
    late = _create(session, actor, now, stage="invoicing")
    odd = _create(session, actor, now, stage="qa_hold")
    assert (late.stages_entered, late.delivered_at) == (B["invoicing"], now)
    assert (odd.stages_entered, odd.delivered_at) == (OTHER_STAGE_BIT, None)
    session.commit()
    assert reached_stored(session) == reached_by_events(session)


def test_a_signature_is_the_delivery_even_after_the_stage_said_otherwise(session, now):
    actor = load_actor(session, make_user(session, roles=["sales"]).id)
    order = _create(session, actor, now)
    _move(session, actor, order, now + timedelta(days=1), stage="delivered")
    assert order.delivered_at == now + timedelta(days=1)
    # the sign-off date typed in later: the end of that day in Shanghai, or now when that is later
    _move(session, actor, order, now + timedelta(days=3), data={"signed_on": "2026-11-25"})
    assert order.signed_at is not None and order.delivered_at == order.signed_at != now + timedelta(days=1)
    session.commit()
    assert reached_stored(session) == reached_by_events(session)


def test_an_effect_moving_the_order_sets_its_bit_and_delivery(session, now):
    rep = make_user(session, roles=["sales"])
    actor = load_actor(session, rep.id)
    order = _create(session, actor, now)
    later = now + timedelta(hours=6)
    apply_effects(session, [fx.EnterStage(dedupe_key="reached:1", stage="payment")], order=order, actor=None,
                  now=later, source="rule")
    session.commit()
    session.refresh(order)
    assert order.stage == "payment" and order.delivered_at == later
    assert order.stages_entered == B["draft"] | B["payment"]
    assert reached_stored(session) == reached_by_events(session)
