"""Delay-risk features of the Olist orders, on the committed 400-order subset (tests/data/olist/foresight):
the join, the label, the time split, hand-computed features, and no peeking at the future."""

import csv
from pathlib import Path

import numpy as np
import pytest

from engine.foresight.olist import (
    CATEGORICAL_FEATURES,
    FEATURES,
    RateTable,
    build_features,
    is_late,
    join_tables,
    labelled,
    late_from_transit,
    learn_history,
    recent_tables,
    slack_heuristic,
    state_distance_km,
    time_split,
    to_days,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "olist" / "foresight"
FIRST = "e481f51cbdc54678b7cc49136f2d6af7"  # the first order of the file


def read(name):
    with (DATA / f"olist_{name}_dataset.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cols():
    return join_tables(read("orders"), read("order_items"), read("customers"), read("products"),
                       read("sellers"), read("order_payments"))


@pytest.fixture(scope="module")
def split(cols):
    ok = cols.take(np.flatnonzero(labelled(cols)))
    train_idx, test_idx = time_split(ok.purchase, 0.7)
    return ok, ok.take(train_idx), ok.take(test_idx)


def column(matrix, name):
    return matrix[:, FEATURES.index(name)]


class TestJoin:
    def test_one_row_per_order_with_its_items(self, cols):
        assert len(cols) == 400
        assert cols.n_items.sum() == 466
        assert labelled(cols).sum() == 386 and is_late(cols)[labelled(cols)].sum() == 35

    def test_the_first_order_by_hand(self, cols):
        i = int(np.flatnonzero(cols.order_id == FIRST)[0])
        assert cols.customer_state[i] == "SP" and cols.seller_state[i] == "SP"
        assert cols.category[i] == "utilidades_domesticas" and cols.n_items[i] == 1
        assert cols.price[i] == pytest.approx(29.99) and cols.freight[i] == pytest.approx(8.72)
        assert is_late(cols)[i] == 0

    def test_timestamps(self):
        days = to_days(["1970-01-02 12:00:00", ""])
        assert days[0] == 1.5 and np.isnan(days[1])


class TestSplitAndFeatures:
    def test_the_oldest_seventy_percent_train(self, split):
        ok, train, test = split
        assert len(train) == round(len(ok) * 0.7) and len(train) + len(test) == len(ok)
        assert train.purchase.max() <= test.purchase.min()

    def test_hand_computed_features_of_the_first_order(self, cols, split):
        _ok, train, _test = split
        x = build_features(cols, learn_history(train))
        assert x.shape == (400, len(FEATURES))
        i = int(np.flatnonzero(cols.order_id == FIRST)[0])
        # purchase 2017-10-02 10:56:33, approved 11:07:15, carrier 2017-10-04 19:55:00, estimate 2017-10-18
        assert column(x, "slack_days")[i] == pytest.approx(13 + (24 * 3600 - (19 * 3600 + 55 * 60)) / 86400)
        assert column(x, "approval_lag_days")[i] == pytest.approx((10 * 60 + 42) / 86400)
        assert column(x, "purchase_weekday")[i] == 0 and column(x, "purchase_month")[i] == 10
        assert column(x, "same_state")[i] == 1.0
        assert column(x, "freight_ratio")[i] == pytest.approx(8.72 / 29.99)
        assert slack_heuristic(x)[i] == -column(x, "slack_days")[i]

    def test_categories_unseen_in_training_are_missing(self, split):
        _ok, train, test = split
        history = learn_history(train)
        x = build_features(test, history)
        codes = column(x, "category")
        known = np.array([c in history.vocabularies["category"] for c in test.category])
        assert np.isnan(codes[~known]).all() and not np.isnan(codes[known]).any()
        assert set(CATEGORICAL_FEATURES) <= set(FEATURES)

    def test_rates_count_only_training_orders_delivered_before_the_hand_over(self, split):
        _ok, train, test = split
        history = learn_history(train)
        n = column(build_features(test, history), "seller_history_n")
        for j in range(len(test)):  # brute force, order by order
            expected = sum(1 for k in range(len(train)) if train.seller_id[k] == test.seller_id[j]
                           and train.delivered[k] < test.carrier[j])
            assert n[j] == expected

    def test_recent_features_see_only_what_was_known(self, cols, split):
        ok, train, _test = split
        recent = recent_tables(ok)
        x = build_features(ok, learn_history(train), recent)
        share = column(x, "recent_late_share")
        late = is_late(ok)
        for j in range(0, len(ok), 17):
            at = ok.carrier[j]
            window = (ok.delivered < at) & (ok.delivered >= at - 14)
            expected = late[window].mean() if window.any() else np.nan
            assert share[j] == pytest.approx(expected, nan_ok=True)

    def test_missing_dates_give_nan_not_errors(self, cols, split):
        _ok, train, _test = split
        x = build_features(cols, learn_history(train))
        undelivered = np.isnan(cols.carrier)
        assert undelivered.any() and np.isnan(column(x, "slack_days")[undelivered]).all()


class TestRateTable:
    def test_counts_in_a_window(self):
        table = RateTable.build(np.array(["a", "a", "b", "a"], dtype=object), np.array([1.0, 2.0, 2.5, 5.0]),
                                np.array([1, 0, 1, 1]), np.array([3.0, 4.0, 5.0, 6.0]))
        n, late, transit = table.counts(np.array(["a", "a", "b", "c", "a"], dtype=object),
                                        np.array([2.0, 10.0, 3.0, 3.0, 10.0]),
                                        since=np.array([0.0, 0.0, 0.0, 0.0, 2.0]))
        assert list(n) == [1, 3, 1, 0, 2] and list(late) == [1, 2, 1, 0, 1] and list(transit) == [3, 13, 5, 0, 10]


class TestDistance:
    def test_between_state_capitals(self):
        km = state_distance_km(np.array(["SP", "SP", "RS", "XX", ""], dtype=object),
                               np.array(["RJ", "SP", "AM", "SP", "SP"], dtype=object))
        assert km[0] == pytest.approx(357, abs=10)  # São Paulo – Rio de Janeiro
        assert km[1] == 0.0
        assert km[2] == pytest.approx(3130, abs=60)  # Porto Alegre – Manaus
        assert np.isnan(km[3]) and np.isnan(km[4])

    def test_a_feature_of_every_order(self, cols, split):
        _ok, train, _test = split
        x = build_features(cols, learn_history(train))
        i = int(np.flatnonzero(cols.order_id == FIRST)[0])
        assert column(x, "distance_km")[i] == 0.0  # SP -> SP
        far = (cols.seller_state == "SP") & (cols.customer_state == "BA")
        assert far.any() and (column(x, "distance_km")[far] > 1400).all()


class TestLateFromTransit:
    residuals = np.log(np.array([0.5, 0.8, 1.0, 1.0, 1.25, 2.0]))  # transit ÷ prediction on a held-out slice

    def test_share_of_residuals_past_the_slack(self):
        predicted = np.log(np.array([10.0, 10.0, 10.0, 10.0]))
        p = late_from_transit(predicted, np.array([4.0, 9.0, 15.0, 30.0]), self.residuals)
        # slack 4 days: every residual takes 10 days past it; 9: 1.0, 1.0, 1.25, 2.0 do; 15: only 2.0; 30: none
        assert list(p) == pytest.approx([6.5 / 7, 4.5 / 7, 1.5 / 7, 0.5 / 7])
        assert (np.diff(p) < 0).all()

    def test_no_slack_left_is_all_but_certainly_late_and_unknown_stays_unknown(self):
        p = late_from_transit(np.log(np.array([1.0, 1.0, np.nan])), np.array([0.0, -2.0, 5.0]), self.residuals)
        assert p[0] == p[1] == pytest.approx(6.5 / 7) and np.isnan(p[2])
        with pytest.raises(ValueError):
            late_from_transit(np.zeros(1), np.ones(1), np.array([]))
