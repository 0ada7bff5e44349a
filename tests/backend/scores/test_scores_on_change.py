"""The stored scores follow changes (backend/scores/on_change.py, service.refresh_changed), on SQLite
and PostgreSQL: a change through the order pipeline marks what it touches, the drain recomputes only
those orders set-based, and the full refresh (now a rare reconciliation) then finds nothing to do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from backend.auth.actor import Actor
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.scores import service as scores_service
from backend.scores.models import OrderScoreMark
from backend.scores.service import refresh, refresh_changed
from engine.facts import scores
from tests.backend.scores.test_scores_differential import NOW, _history
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def _actor(user):
    return Actor(user_id=user.id, username=user.username, display_name="S", roles=frozenset({"admin"}))


def _change(session, actor, order_id, now, **values):
    order = session.get(Order, order_id)
    session.refresh(order)
    orders_service.update_order(session, actor=actor, order_id=order_id, now=now,
                                payload=OrderUpdate(version=order.version, **values))
    session.expire_all()


def _drain(session, now):
    changed = refresh_changed(session.connection(), now)
    session.commit()
    session.expire_all()
    return changed


def _marks(session):
    return set(session.exec(select(OrderScoreMark.kind, OrderScoreMark.key)).all())


def test_changes_are_followed_and_the_reconciliation_finds_nothing(session):
    _history(session, 7)
    admin = make_user(session, roles=("admin",))
    actor = _actor(admin)
    customer = make_customer(session, tier="key")
    closing = make_order(session, owner=admin, customer=customer, stage="shipping", at=NOW - timedelta(days=20),
                         planned_delivery=(NOW - timedelta(days=3)).date(), data={"supplier": "Acme"})
    sibling = make_order(session, owner=admin, customer=customer, stage="production", at=NOW - timedelta(days=5),
                         planned_delivery=(NOW + timedelta(days=30)).date(), data={"supplier": "Bolt"})
    same_supplier = make_order(session, owner=admin, customer=make_customer(session), stage="production",
                               at=NOW - timedelta(days=5), data={"supplier": "Acme"})
    session.commit()
    scores_service._last_day[0] = None
    refresh(session.connection(), NOW)
    session.execute(OrderScoreMark.__table__.delete())
    session.commit()
    assert _drain(session, NOW) >= 0  # the day's urgency edges, once
    assert refresh(session.connection(), NOW) == 0

    # closing an order late: its customer's and its supplier's on-time rates move
    later = NOW + timedelta(minutes=5)
    _change(session, actor, closing.id, later, status="completed")
    marks = _marks(session)
    assert {("order", str(closing.id)), ("customer", str(customer.id)), ("supplier", "Acme")} <= marks
    assert session.get(Order, closing.id).priority_score == 0  # at once, in the change's transaction
    before = session.get(Order, sibling.id).customer_on_time_rate, session.get(Order, same_supplier.id).supplier_on_time_rate
    assert _drain(session, later) >= 2
    assert session.get(Order, sibling.id).customer_on_time_rate == 0.0 != before[0]
    assert session.get(Order, same_supplier.id).supplier_on_time_rate != before[1]
    assert _marks(session) == set()
    assert refresh(session.connection(), later) == 0  # nothing left for the reconciliation

    # a nearer planned delivery: the priority at once, the rest by the drain
    old = session.get(Order, sibling.id).priority_score
    _change(session, actor, sibling.id, later, planned_delivery=(later + timedelta(days=2)).date())
    row = session.get(Order, sibling.id)
    expected = scores.priority_score({c.key: getattr(row, c.key) for c in Order.__table__.columns}, "key", later,
                                     row.delay_probability)  # the foresight stage may have re-scored it too
    assert row.priority_score == expected > old
    assert ("order", str(sibling.id)) in _marks(session) and ("customer", str(customer.id)) not in _marks(session)
    _drain(session, later)
    assert refresh(session.connection(), later) == 0


def test_the_drain_recomputes_only_the_marked_orders(session):
    _history(session, 8)
    session.commit()
    refresh(session.connection(), NOW)
    session.execute(OrderScoreMark.__table__.delete())
    scores_service._last_day[0] = NOW.date()  # the day's urgency edges already done
    open_ids = list(session.exec(select(Order.id).where(Order.status == "open").order_by(Order.id)).scalars())
    marked, untouched = open_ids[0], open_ids[1]
    customer_of_marked = session.get(Order, marked).customer_id
    session.execute(update(Order).where(Order.id.in_([marked, untouched])).values(priority_score=99))
    session.add(OrderScoreMark(kind="order", key=str(marked), created_at=NOW))
    session.commit()
    assert _drain(session, NOW) >= 1
    assert session.get(Order, marked).priority_score != 99
    untouched_row = session.get(Order, untouched)
    assert untouched_row.priority_score == 99 or untouched_row.customer_id == customer_of_marked
    assert _marks(session) == set()
    # the reconciliation repairs what no change marked
    assert refresh(session.connection(), NOW) >= 1
    session.expire_all()
    assert session.get(Order, untouched).priority_score != 99


def test_a_new_day_recomputes_the_orders_crossing_an_urgency_band(session):
    admin = make_user(session, roles=("admin",))
    customer = make_customer(session, tier="small")
    order = make_order(session, owner=admin, customer=customer, stage="production", at=NOW - timedelta(days=5),
                       planned_delivery=(NOW + timedelta(days=3)).date(), amount=800)
    session.commit()
    refresh(session.connection(), NOW)
    session.execute(OrderScoreMark.__table__.delete())
    session.commit()
    session.expire_all()
    assert session.get(Order, order.id).priority_score == 5 + 20  # 3 days left
    scores_service._last_day[0] = NOW.date()
    tomorrow = NOW + timedelta(days=1)
    _drain(session, NOW)  # same day: nothing to do
    assert session.get(Order, order.id).priority_score == 25
    _drain(session, tomorrow + timedelta(days=3))  # its planned day has passed since: overdue
    assert session.get(Order, order.id).priority_score == 5 + 25


def test_restricted_groups_give_the_full_refresh_rates(session):
    """Drains of carrier, supplier and customer marks over a refreshed book change nothing: the groups
    computed only for the marked orders equal the full refresh's."""
    _history(session, 9)
    session.commit()
    refresh(session.connection(), NOW)
    session.execute(OrderScoreMark.__table__.delete())
    scores_service._last_day[0] = NOW.date()
    customers = session.exec(select(Order.customer_id).distinct()).scalars().all()
    marks = [("carrier", c) for c in ("SF", "ZTO", "JD", "YTO")] + [("supplier", s) for s in ("Acme", "Bolt", "Cord")]
    marks += [("customer", str(c)) for c in customers]
    session.add_all([OrderScoreMark(kind=k, key=v, created_at=NOW) for k, v in marks])
    session.commit()
    assert _drain(session, NOW) == 0
    # and a damaged score of a carrier's order is repaired by that carrier's mark
    victim = session.exec(select(Order).where(Order.status == "open", Order.carrier_on_time_rate.is_not(None))
                          .order_by(Order.id).limit(1)).scalars().first()
    right = victim.carrier_on_time_rate
    session.execute(update(Order).where(Order.id == victim.id).values(carrier_on_time_rate=-1.0))
    session.add_all([OrderScoreMark(kind="carrier", key=c, created_at=NOW) for c in ("SF", "ZTO", "JD", "YTO")])
    session.commit()
    assert _drain(session, NOW) >= 1
    assert session.get(Order, victim.id).carrier_on_time_rate == right


def test_a_new_order_marks_its_customer_and_the_drain_scores_it(session):
    """One mark per customer for new orders (a bulk batch of 5,000 new orders of 500 customers writes
    500 marks): the customer's mark recomputes all its open orders, the new ones included."""
    from decimal import Decimal

    from backend.orders.schemas import OrderCreate

    admin = make_user(session, roles=("admin",))
    customer = make_customer(session, tier="key")
    session.commit()
    session.execute(OrderScoreMark.__table__.delete())
    scores_service._last_day[0] = NOW.date()
    actor = _actor(admin)
    made = [orders_service.create_order(session, actor=actor, now=NOW, payload=OrderCreate(
        customer_id=customer.id, amount=Decimal("900000"), planned_delivery=(NOW + timedelta(days=2)).date()))[0]
        for _ in range(3)]
    session.commit()
    assert _marks(session) == {("customer", str(customer.id))}
    assert _drain(session, NOW) >= 1
    for read in made:
        row = session.get(Order, read.id)
        expected = scores.priority_score({c.key: getattr(row, c.key) for c in Order.__table__.columns}, "key", NOW,
                                         row.delay_probability)
        assert row.priority_score == expected > 0
    assert refresh(session.connection(), NOW) == 0  # nothing left for the reconciliation
