"""The order's prediction attributes are deferred: loading orders does not read foresight_score,
reading them does (one statement for one order, one for a batch through load_predictions)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from backend.orders.models import Order, load_predictions
from tests.backend.orders.test_access import count_queries
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _orders(session, prefix: str, n: int = 30) -> dict[str, float | None]:
    rep = make_user(session, roles=["sales"])
    customer = make_customer(session)
    expected = {}
    for i in range(n):
        p = round(i / n, 4) if i % 3 else None
        make_order(session, owner=rep, customer=customer, number=f"{prefix}-{i:03d}", stage="production",
                   **({"delay_probability": p, "predicted_completion_at": AT} if p is not None else {}))
        expected[f"{prefix}-{i:03d}"] = p
    session.flush()
    session.expunge_all()  # nothing loaded: what a list, a chunk or a page starts from
    return expected


def test_loading_orders_reads_no_prediction_until_asked_and_then_one_query_for_all(session):
    expected = _orders(session, "PL1")
    with count_queries(session) as statements:
        orders = session.exec(select(Order).where(Order.number.like("PL1-%")).order_by(Order.id)).all()
        assert [o.number for o in orders] == sorted(expected)
        assert [o.stage for o in orders] == ["production"] * len(expected)
    assert len(statements) == 1, statements
    assert "foresight_score" not in statements[0]  # no correlated subquery per order
    with count_queries(session) as statements:
        load_predictions(session, orders)
        got = {o.number: o.delay_probability for o in orders}
        completions = {o.number: o.predicted_completion_at for o in orders}
        stage_ends = [o.predicted_stage_done_at for o in orders]
    assert len(statements) == 1 and "foresight_score" in statements[0], statements
    assert got == expected
    assert completions == {k: (AT if v is not None else None) for k, v in expected.items()}
    assert stage_ends == [None] * len(orders)
    with count_queries(session) as statements:
        load_predictions(session, orders)  # already loaded: nothing to read
    assert statements == []


def test_one_order_reads_its_four_predictions_in_one_statement_when_read(session):
    expected = _orders(session, "PL2", n=3)
    with count_queries(session) as statements:
        order = session.exec(select(Order).where(Order.number == "PL2-001")).one()
    assert len(statements) == 1 and "foresight_score" not in statements[0]
    with count_queries(session) as statements:
        assert order.delay_probability == expected["PL2-001"]
        assert order.predicted_completion_at == AT and order.stage_p90_hours is None
    assert len(statements) == 1, statements


def test_a_prediction_in_a_query_is_still_an_expression(session):
    _orders(session, "PL3", n=6)
    numbers = session.exec(select(Order.number).where(Order.number.like("PL3-%"), Order.delay_probability >= 0.3)
                           .order_by(Order.number)).all()
    assert numbers == ["PL3-002", "PL3-004", "PL3-005"]
