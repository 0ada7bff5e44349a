"""The demo history carries patterns a delay-risk model can learn (issue 14): a slow supplier, slow
shipping to some regions, longer production in the peak seasons, and those orders late against
planned_delivery more often. Read back from the order events, as the process map and the models do.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlmodel import Session

from backend.customers.models import Customer
from backend.db import make_engine
from backend.demo import (
    SHIPPING_FACTOR_BY_REGION,
    SLOW_SUPPLIER,
    STAGES,
    SUPPLIERS,
    in_peak_season,
    load_demo,
)
from backend.orders.models import Order, OrderEvent
from tests.backend.test_demo import fresh_database

NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(request, tmp_path_factory):
    """Per order: (supplier, region, planned_delivery, {stage: (entered, left)}) of the demo."""
    url = fresh_database(request.param, tmp_path_factory.mktemp("demo_patterns"), "olisteval_patterns")
    engine = make_engine(url)
    load_demo(engine, now=NOW)
    with Session(engine) as s:
        region = dict(s.exec(select(Customer.id, Customer.region)).all())
        orders = {o.id: o for o in s.exec(select(Order)).scalars()}
        entered: dict[int, dict[str, datetime]] = defaultdict(dict)
        for e in s.exec(select(OrderEvent).where(OrderEvent.type == "stage_entered")).scalars():
            entered[e.order_id][e.after["stage"]] = e.at
    engine.dispose()
    out = []
    for oid, o in orders.items():
        times = entered.get(oid, {})
        spans = {}
        for a, b in zip(STAGES[1:], STAGES[2:], strict=False):
            if a in times and b in times:
                spans[a] = (times[a], times[b])
        out.append((o.data.get("supplier"), region.get(o.customer_id), o.planned_delivery, spans))
    return out


def _days(span):
    return (span[1] - span[0]).total_seconds() / 86400


def _median_days(history, stage, keep):
    values = [_days(sp[stage]) for sup, reg, _p, sp in history if stage in sp and keep(sup, reg, sp[stage][0])]
    assert len(values) >= 30, (stage, len(values))
    return statistics.median(values)


def _late_share(history, keep):
    rows = [(pd, sp["shipping"][1].date()) for sup, reg, pd, sp in history
            if "shipping" in sp and keep(sup, reg, sp)]
    assert len(rows) >= 30
    return sum(done > planned for planned, done in rows) / len(rows)


class TestDemoPatterns:
    def test_every_order_names_one_of_the_suppliers(self, history):
        names = {name for name, _ in SUPPLIERS}
        assert {sup for sup, *_ in history} == names

    def test_closed_orders_span_about_a_year(self, history):
        starts = [sp["production"][0] for *_, sp in history if "production" in sp]
        assert (max(starts) - min(starts)).days > 300

    def test_the_slow_supplier_takes_clearly_longer_in_production(self, history):
        slow = _median_days(history, "production",
                            lambda sup, reg, start: sup == SLOW_SUPPLIER and not in_peak_season(start.date()))
        others = _median_days(history, "production",
                              lambda sup, reg, start: sup != SLOW_SUPPLIER and not in_peak_season(start.date()))
        assert slow > 1.6 * others, (slow, others)

    def test_production_is_longer_in_the_peak_seasons(self, history):
        peak = _median_days(history, "production",
                            lambda sup, reg, start: sup != SLOW_SUPPLIER and in_peak_season(start.date()))
        normal = _median_days(history, "production",
                              lambda sup, reg, start: sup != SLOW_SUPPLIER and not in_peak_season(start.date()))
        assert peak > 1.3 * normal, (peak, normal)

    def test_shipping_to_the_slow_regions_takes_longer(self, history):
        slow = _median_days(history, "shipping", lambda sup, reg, start: reg in SHIPPING_FACTOR_BY_REGION)
        others = _median_days(history, "shipping", lambda sup, reg, start: reg not in SHIPPING_FACTOR_BY_REGION)
        assert slow > 1.4 * others, (slow, others)

    def test_the_slow_supplier_s_orders_are_late_more_often(self, history):
        slow = _late_share(history, lambda sup, reg, sp: sup == SLOW_SUPPLIER)
        others = _late_share(history, lambda sup, reg, sp: sup != SLOW_SUPPLIER)
        assert slow > others + 0.2 and 0.05 < others < 0.6, (slow, others)


def test_peak_season_dates():
    assert in_peak_season(date(2026, 11, 1)) and in_peak_season(date(2026, 11, 11))
    assert in_peak_season(date(2026, 2, 1)) and not in_peak_season(date(2026, 2, 18))
    assert not in_peak_season(date(2026, 6, 15)) and not in_peak_season(date(2026, 11, 12))
