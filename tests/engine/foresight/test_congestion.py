"""Congestion at the hand-over (engine/foresight/congestion.py): figures by hand, and point-in-time
correctness — a row's features never see a hand-over or a delivery at or after its own hand-over."""

import csv
from pathlib import Path

import numpy as np
import pytest

from engine.foresight.congestion import (
    BACKLOG_WINDOW,
    CONGESTION_FEATURES,
    MIN_BASE,
    Shipments,
    congestion_features,
)
from engine.foresight.olist import join_tables, labelled

DATA = Path(__file__).resolve().parents[2] / "data" / "olist" / "foresight"


def col(matrix, name):
    return matrix[:, CONGESTION_FEATURES.index(name)]


def ships(carrier, delivered, to="SP", frm="SP"):
    n = len(carrier)
    return Shipments(carrier=np.asarray(carrier, dtype="float64"), delivered=np.asarray(delivered, dtype="float64"),
                     customer_state=np.array([to] * n if isinstance(to, str) else to, dtype=object),
                     seller_state=np.array([frm] * n if isinstance(frm, str) else frm, dtype=object))


def features_at(s, at, to="SP", frm="SP", slack=10.0):
    at = np.atleast_1d(np.asarray(at, dtype="float64"))
    n = len(at)
    return congestion_features(s, at, np.array([to] * n, dtype=object), np.array([frm] * n, dtype=object),
                               np.full(n, slack))


def known_at(s: Shipments, at: float) -> Shipments:
    """What a live system knows at `at`: shipments handed over before it, deliveries before it."""
    keep = s.carrier < at
    delivered = np.where(s.delivered < at, s.delivered, np.nan)[keep]
    return Shipments(s.carrier[keep], delivered, s.customer_state[keep], s.seller_state[keep])


class TestByHand:
    def test_backlog_counts_deliveries_before_the_hand_over_only(self):
        # handed over 6, 8, 10, 12 days before day 100; delivered on days 97, 99, 100 (at the
        # hand-over: not yet known), never; plus one handed over 2 days ago (outside 5–15)
        s = ships([94, 92, 90, 88, 98], [97, 99, 100, np.nan, 99])
        f = features_at(s, 100.0)
        assert BACKLOG_WINDOW == (5.0, 15.0)
        assert col(f, "backlog_share")[0] == pytest.approx(2 / 4)

    def test_handover_ratio_against_the_trailing_eight_weeks(self):
        # one hand-over a day over days 37..92 (56 days = the 8 weeks before the last 7), then 3 a
        # day over the last 7 days: the 7-day ratio is 3, the 1-day one 3 as well
        base = np.arange(37.0, 93.0)
        last = np.repeat(np.arange(93.0, 100.0), 3)
        s = ships(np.concatenate([base, last]), np.full(len(base) + len(last), np.nan))
        f = features_at(s, 100.0)
        assert col(f, "handover_ratio_7d")[0] == pytest.approx(3.0)
        assert col(f, "handover_ratio_1d")[0] == pytest.approx(3.0)
        assert col(f, "state_handover_ratio_7d")[0] == pytest.approx(3.0)
        assert col(f, "seller_state_handover_ratio_7d")[0] == pytest.approx(3.0)
        # another state: no shipments of its own → NaN, the overall ratio unchanged
        g = congestion_features(s, np.array([100.0]), np.array(["RJ"], dtype=object), np.array(["SP"], dtype=object),
                                np.array([10.0]))
        assert np.isnan(col(g, "state_handover_ratio_7d")[0]) and col(g, "handover_ratio_7d")[0] == pytest.approx(3.0)

    def test_too_little_history_gives_no_ratio(self):
        s = ships(np.arange(80.0, 80.0 + MIN_BASE - 1), np.full(MIN_BASE - 1, np.nan))
        assert np.isnan(col(features_at(s, 100.0), "handover_ratio_7d")[0])

    def test_state_transit_quantiles_and_slack_over_them(self):
        # six deliveries to SP in the last 14 days with transits 2..7; one to RJ (ignored); an SP
        # delivery at the hand-over itself (not yet known)
        carrier = [88, 88, 88, 88, 88, 88, 80, 90]
        delivered = [90, 91, 92, 93, 94, 95, 99, 100]
        s = ships(carrier, delivered, to=["SP"] * 6 + ["RJ", "SP"])
        f = features_at(s, 100.0, slack=9.0)
        assert col(f, "state_transit_p50_14d")[0] == pytest.approx(4.5)
        assert col(f, "state_transit_p50_30d")[0] == pytest.approx(4.5)
        assert col(f, "state_transit_p90_30d")[0] == pytest.approx(6.5)
        assert col(f, "slack_over_p50")[0] == pytest.approx(2.0)

    def test_a_state_with_few_deliveries_falls_back_to_all_states(self):
        s = ships([88, 88, 88, 88, 88, 88], [90, 91, 92, 93, 94, 95], to=["RJ"] * 5 + ["SP"])
        f = features_at(s, 100.0)
        assert col(f, "state_transit_p50_30d")[0] == pytest.approx(4.5)  # all six, SP alone has one


@pytest.fixture(scope="module")
def random_shipments():
    rng = np.random.default_rng(14)
    n = 3000
    carrier = np.sort(rng.uniform(0.0, 200.0, n))
    transit = rng.gamma(3.0, 2.5, n) * np.where((carrier > 150) & (carrier < 165), 2.5, 1.0)  # a surge
    delivered = np.where(rng.random(n) < 0.03, np.nan, carrier + transit)
    states = rng.choice(np.array(["SP", "RJ", "MG", "BA"], dtype=object), n)
    sellers = rng.choice(np.array(["SP", "PR"], dtype=object), n)
    return Shipments(carrier, delivered, states, sellers)


class TestPointInTime:
    """A feature for an order never uses data from after its hand-over: the features computed from
    all shipments equal those computed from what was known at the hand-over, and changing the
    future changes nothing. A feature that looked ahead (counted a delivery at or after the
    hand-over, or a later hand-over) would fail here."""

    def test_equal_to_the_features_from_what_was_known_then(self, random_shipments):
        s = random_shipments
        rows = np.arange(100, 3000, 97)
        full = congestion_features(s, s.carrier[rows], s.customer_state[rows], s.seller_state[rows],
                                   np.full(len(rows), 12.0))
        for k, i in enumerate(rows):
            past = known_at(s, s.carrier[i])
            alone = congestion_features(past, s.carrier[i:i + 1], s.customer_state[i:i + 1],
                                        s.seller_state[i:i + 1], np.array([12.0]))
            np.testing.assert_array_equal(full[k], alone[0])

    def test_changing_the_future_changes_nothing(self, random_shipments):
        s = random_shipments
        at = 160.0  # in the surge
        before = features_at(s, at, to="SP", frm="SP")
        future = s.carrier >= at
        rng = np.random.default_rng(1)
        changed = Shipments(
            carrier=np.where(future, s.carrier + rng.uniform(0, 5, len(s.carrier)), s.carrier),
            delivered=np.where(s.delivered >= at, s.delivered + 30.0, s.delivered),  # later deliveries slower
            customer_state=np.where(future, "SP", s.customer_state).astype(object),
            seller_state=s.seller_state,
        )
        extra = Shipments(np.concatenate([changed.carrier, np.full(500, at + 1.0), np.full(50, at)]),
                          np.concatenate([changed.delivered, np.full(500, at + 2.0), np.full(50, at + 0.5)]),
                          np.concatenate([changed.customer_state, np.full(550, "SP", dtype=object)]),
                          np.concatenate([changed.seller_state, np.full(550, "SP", dtype=object)]))
        np.testing.assert_array_equal(before, features_at(extra, at, to="SP", frm="SP"))
        # …whereas changing the past does change them (the test can fail)
        past = Shipments(s.carrier, np.where(s.carrier < at, np.nan, s.delivered), s.customer_state, s.seller_state)
        assert not np.array_equal(before, features_at(past, at, to="SP", frm="SP"), equal_nan=True)

    def test_the_surge_shows_before_the_late_deliveries_do(self, random_shipments):
        s = random_shipments
        calm, surge = features_at(s, 140.0), features_at(s, 162.0)
        assert col(surge, "backlog_share")[0] > col(calm, "backlog_share")[0] + 0.2

    def test_on_the_olist_subset(self):
        def read(name):
            with (DATA / f"olist_{name}_dataset.csv").open(encoding="utf-8-sig", newline="") as handle:
                return list(csv.DictReader(handle))
        cols = join_tables(read("orders"), read("order_items"), read("customers"), read("products"),
                           read("sellers"), read("order_payments"))
        cols = cols.take(np.flatnonzero(labelled(cols)))
        s = Shipments(cols.carrier, cols.delivered, cols.customer_state, cols.seller_state)
        slack = cols.estimated - cols.carrier
        full = congestion_features(s, cols.carrier, cols.customer_state, cols.seller_state, slack)
        assert np.isfinite(col(full, "state_transit_p50_30d")).sum() > 300
        for i in range(0, len(cols), 23):
            alone = congestion_features(known_at(s, cols.carrier[i]), cols.carrier[i:i + 1],
                                        cols.customer_state[i:i + 1], cols.seller_state[i:i + 1], slack[i:i + 1])
            np.testing.assert_array_equal(full[i], alone[0])
