"""The stored scores: the SQL refresh (engine/facts/scores_sql.py) equals the Python definition
(engine/facts/scores.py) on generated histories, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.logistics.models import Shipment
from backend.orders.models import Order, OrderEvent
from backend.scores.service import refresh
from engine.facts import scores
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TIERS = ("key", "standard", "small")


def _history(session, seed: int):
    rng = random.Random(seed)
    owner = make_user(session)
    customers = [make_customer(session, tier=rng.choice(TIERS)) for _ in range(6)]
    for i in range(80):
        customer = rng.choice(customers)
        created = NOW - timedelta(days=rng.randint(0, 500), seconds=rng.randint(0, 86399))
        status = rng.choice(("open", "open", "completed", "completed", "cancelled"))
        planned = (created + timedelta(days=rng.randint(-5, 60))).date() if rng.random() < 0.85 else None
        closed = None
        signed = None
        if status != "open":
            closed = min(NOW + timedelta(days=rng.choice((0, 0, 0, 3))), created + timedelta(days=rng.randint(1, 80),
                                                                                              seconds=rng.randint(0, 86399)))
            if rng.random() < 0.6:
                signed = closed - timedelta(hours=rng.randint(0, 72))
        data = {}
        if rng.random() < 0.7:
            data["supplier"] = rng.choice(("Acme", "Bolt", "", "Cord"))
        if rng.random() < 0.5:
            data["carrier"] = rng.choice(("SF", "ZTO", 7))
        flags = rng.sample(["late_payment", "quality", "credit", "customs"], rng.randint(0, 4))
        contact = created + timedelta(days=rng.randint(0, 40)) if rng.random() < 0.6 else None
        # the stored prediction: none, exact halves (rounded half up), arbitrary, out of range
        prob = rng.choice((None, None, 0.0, 0.5, 1 / 30, 0.1, 0.7, rng.random(), 1.0, 1.2, -0.1))
        order = make_order(session, owner=owner, customer=customer, stage="production", status=status,
                           amount=rng.choice((800, 4999.99, 5000, 25000, 120000, 800000)), at=created,
                           planned_delivery=planned, closed_at=closed, signed_at=signed, data=data,
                           risk_flags=flags, last_customer_contact_at=contact, delay_probability=prob, number=f"SC{seed}-{i}")
        if rng.random() < 0.4:
            for k in range(rng.randint(1, 2)):
                session.add(Shipment(order_id=order.id, carrier=rng.choice(("SF", "JD", "YTO")), tracking_no=f"{i}-{k}",
                                     created_at=created, updated_at=created))
        for _ in range(rng.choice((0, 0, 1, 3))):
            session.add(OrderEvent(order_id=order.id, type=rng.choice(("urged", "flow.urged", "updated")),
                                   at=NOW - timedelta(days=rng.randint(0, 45), seconds=rng.randint(0, 86399))))
    session.flush()
    return {c.id: c.tier for c in customers}


def _python(session, tiers):
    orders = []
    for order in session.exec(select(Order)).scalars():
        row = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
        row["delay_probability"] = order.delay_probability  # stored in foresight_score (predtable_0001)
        supplier = (order.data or {}).get("supplier")
        row["supplier"] = supplier if isinstance(supplier, str) and supplier else None
        latest = session.exec(select(Shipment.carrier).where(Shipment.order_id == order.id)
                              .order_by(Shipment.id.desc()).limit(1)).scalar_one_or_none()
        carrier = latest if latest is not None else (order.data or {}).get("carrier")
        row["carrier"] = carrier if isinstance(carrier, str) and carrier else None
        orders.append(row)
    urges = [(cid, at) for cid, at in session.exec(
        select(Order.customer_id, OrderEvent.at).join(Order, Order.id == OrderEvent.order_id)
        .where(OrderEvent.type.in_(scores.URGE_EVENTS))).all()]
    return orders, scores.scores(orders, tiers=tiers, urges=urges, now=NOW)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_refresh_equals_python(session, seed):
    tiers = _history(session, seed)
    refresh(session.connection(), NOW)
    session.expire_all()
    orders, expected = _python(session, tiers)
    checked = 0
    for order in session.exec(select(Order).where(Order.status == "open")).scalars():
        want = expected[order.id]
        got = {name: getattr(order, name) for name in want}
        assert got == want, (order.number, got, want)
        checked += 1
    assert checked > 10
    assert any(v["customer_on_time_rate"] not in (None, 0.0, 1.0) for v in expected.values())
    assert any(v["churn_signals"] for v in expected.values())
    assert len({v["priority_score"] for v in expected.values()}) > 5
    # closed orders keep what they had (0 priority once closed)
    for order in session.exec(select(Order).where(Order.status != "open")).scalars():
        assert order.priority_score == 0


def test_refresh_twice_changes_nothing_the_second_time(session):
    _history(session, 9)
    refresh(session.connection(), NOW)
    assert refresh(session.connection(), NOW) == 0


def test_known_figures():
    now = NOW
    done = dict(status="completed", closed_at=now - timedelta(days=10))
    orders = [
        {"id": 1, "customer_id": 1, "planned_delivery": (now - timedelta(days=10)).date(), **done},  # on the day
        {"id": 2, "customer_id": 1, "planned_delivery": (now - timedelta(days=11)).date(), **done},  # a day late
        {"id": 3, "customer_id": 1, "planned_delivery": (now - timedelta(days=11)).date(),
         "signed_at": now - timedelta(days=12), **done},  # signed before: on time
        {"id": 4, "customer_id": 1, "planned_delivery": None, **done},  # no plan: not a sample
        {"id": 5, "customer_id": 1, "status": "cancelled", "closed_at": now, "planned_delivery": now.date()},
    ]
    assert scores.on_time_rates(orders, "customer_id", now) == {1: 2 / 3}
    open_order = {"status": "open", "amount": 120000, "planned_delivery": (now + timedelta(days=2)).date(),
                  "risk_flags": ["a", "b", "c", "d"]}
    assert scores.priority_score(open_order, "key", now) == 30 + 20 + 20 + 15
    assert scores.priority_score({**open_order, "risk_flags": []}, "small", now, delay_probability=0.5) == 30 + 20 + 8
    assert scores.priority_score({**open_order, "status": "completed"}, "key", now) == 0
    # the stored delay probability: 15 × p rounded half up, at least the flags' points
    no_flags = {**open_order, "risk_flags": []}
    assert scores.priority_score(no_flags, "key", now, 0.9) == 30 + 20 + 20 + 14
    assert scores.priority_score(no_flags, "key", now, 0.1) == 30 + 20 + 20 + 2  # 1.5 → 2
    assert scores.priority_score({**open_order, "risk_flags": ["a"]}, "key", now, 0.2) == 30 + 20 + 20 + 5
    assert scores.priority_score(no_flags, "key", now, 3.0) == 30 + 20 + 20 + 15
    assert scores.scores([{**no_flags, "id": 1, "customer_id": 1, "delay_probability": 1.0}], tiers={1: "key"},
                         urges=[], now=now)[1]["priority_score"] == 30 + 20 + 20 + 15
    assert scores.churn_signals(scores.CustomerSignals(urges=2, silent_days=31, late=2)) == 3
    assert scores.churn_signals(scores.CustomerSignals(urges=1, silent_days=30, late=1)) == 0


def test_order_list_sorts_and_filters_by_the_scores(session):
    from backend.auth.actor import Actor
    from backend.orders import service as orders_service
    from backend.orders.schemas import OrderFilter

    owner = make_user(session)
    admin = Actor(user_id=owner.id, username=owner.username, display_name=owner.display_name, roles=frozenset({"admin"}))
    made = [make_order(session, owner=owner, priority_score=p, churn_signals=c, number=f"PS-{p}-{c}")
            for p, c in ((10, 0), (80, 2), (45, 1), (80, 3))]
    ids = {o.id for o in made}
    page = orders_service.list_orders(session, actor=admin, filters=OrderFilter(sort="priority_score", direction="desc",
                                                                             limit=2))
    first = [o.number for o in page.items if o.id in ids]
    assert first == ["PS-80-3", "PS-80-2"] and page.items[0].priority_score == 80
    rest = orders_service.list_orders(session, actor=admin, filters=OrderFilter(
        sort="priority_score", direction="desc", limit=2, cursor=page.next_cursor))
    assert [o.number for o in rest.items if o.id in ids] == ["PS-45-1", "PS-10-0"]
    picked = orders_service.list_orders(session, actor=admin, filters=OrderFilter(priority_min=45, churn_min=2))
    assert sorted(o.number for o in picked.items if o.id in ids) == ["PS-80-2", "PS-80-3"]
