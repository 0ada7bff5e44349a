"""The delay-risk metrics: hand-made cases, and agreement with scikit-learn on random data."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from engine.foresight import metrics


class TestAuc:
    def test_perfect_worst_and_ties(self):
        assert metrics.auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
        assert metrics.auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
        assert metrics.auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5

    def test_one_class_only_is_nan(self):
        assert np.isnan(metrics.auc([1, 1, 1], [0.1, 0.2, 0.3]))

    def test_agrees_with_sklearn(self):
        rng = np.random.default_rng(1)
        y = rng.random(2000) < 0.1
        score = np.round(rng.random(2000) + y * 0.3, 2)  # rounded: many ties
        assert metrics.auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


class TestBrierAndPrecision:
    def test_brier_agrees_with_sklearn(self):
        rng = np.random.default_rng(2)
        y, p = rng.random(500) < 0.2, rng.random(500)
        assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p))
        assert metrics.brier([0, 1], [0.0, 1.0]) == 0.0

    def test_precision_at_the_riskiest_fraction(self):
        y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        score = [0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
        assert metrics.precision_at(y, score, 0.1) == 1.0  # the top 1 of 10
        assert metrics.precision_at(y, score, 0.2) == 0.5
        assert metrics.precision_at(y, score, 0.3) == pytest.approx(2 / 3)

    def test_bad_input_is_refused(self):
        with pytest.raises(ValueError):
            metrics.precision_at([1, 0], [0.5, 0.5], 0)
        with pytest.raises(ValueError):
            metrics.brier([1, 0], [0.5])


class TestReliability:
    def test_calibrated_scores_match_their_bins(self):
        rng = np.random.default_rng(3)
        p = rng.random(200_000)
        y = rng.random(200_000) < p
        table = metrics.reliability(y, p, bins=10)
        assert len(table) == 10 and sum(b.count for b in table) == 200_000
        assert all(abs(b.mean_predicted - b.observed_rate) < 0.01 for b in table)
        assert metrics.expected_calibration_error(y, p) < 0.01

    def test_overconfident_scores_show_the_gap(self):
        y = np.array([0, 1] * 500)
        p = np.array([0.0, 1.0] * 250 + [1.0, 0.0] * 250)
        assert metrics.expected_calibration_error(y, p) == pytest.approx(0.5)

    def test_uniform_bins_leave_empty_ones_out(self):
        table = metrics.reliability([0, 1, 1], [0.05, 0.95, 0.97], bins=10, strategy="uniform")
        assert [(b.count, b.observed_rate) for b in table] == [(1, 0.0), (2, 1.0)]
        assert metrics.reliability([], []) == []
