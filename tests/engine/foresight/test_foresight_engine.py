"""engine/foresight: learning stage durations and delay risk, the fallback, bad input, explanations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.foresight import Foresight, ModelLoadError, OpenOrder, TrainConfig, render, train
from engine.foresight.holdout import classification_metrics, precision_at
from engine.foresight.train import _not_worse
from tests.factories.foresight_history import history

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained():
    return train(history(500), now=NOW)


def open_order(i, customer, days_in, days_to_planned, stage="production"):
    return OpenOrder(i, stage, NOW - timedelta(days=days_in), (NOW + timedelta(days=days_to_planned)).date(),
                     {"customer": customer, "owner": "rep1", "amount": 5000})


def test_a_model_learns_the_slow_customer_and_measures_itself(trained):
    report = trained.report
    assert report["kind"] == "lightgbm" and trained.model.kind == "lightgbm"
    chosen = report["chosen"]
    assert chosen["auc"] > 0.75 and chosen["brier"] < report["fallback"]["brier"]
    assert chosen["precision_at_10"] > 2 * chosen["base_rate"]
    assert chosen["reliability"] and all(0 <= p <= 1 and 0 <= o <= 1 for p, o in chosen["reliability"])
    assert chosen["importances"][0][0] == "customer"
    assert 0.8 <= report["lightgbm"]["durations"]["p90_coverage"] <= 1.0
    slow, fast = trained.model.predict_many([open_order(1, "Slowco", 2, 3), open_order(2, "Acme", 2, 3)], NOW)
    assert slow.delay_probability > fast.delay_probability
    assert slow.completion_at > fast.completion_at
    assert slow.completion_p90_at >= slow.completion_at >= slow.stage_done_at > NOW


def test_scores_are_explained_in_both_languages(trained):
    (p,) = trained.model.predict_many([open_order(1, "Slowco", 9, 1)], NOW)
    codes = [r.code for r in p.reasons]
    assert "stage_long" in codes and "late_by" in codes
    long = next(r for r in p.reasons if r.code == "stage_long")
    assert render(long, "en").startswith("production already 9.0 days, typical")
    assert "已 9.0 天" in render(long, "zh_CN", {"production": "生产"}.get)
    assert any(r.code == "driver" and r.params["value"] == "Slowco" for r in p.reasons)


def test_a_model_round_trips_through_json(trained):
    again = Foresight.from_json(json.loads(json.dumps(trained.model.to_json())))
    orders = [open_order(1, "Slowco", 2, 3), open_order(2, "Beta", 0.5, 10)]
    assert [p.delay_probability for p in again.predict_many(orders, NOW)] == \
        [p.delay_probability for p in trained.model.predict_many(orders, NOW)]


def test_a_damaged_model_text_is_one_clear_error(trained):
    data = trained.model.to_json()
    with pytest.raises(ModelLoadError):
        Foresight.from_json({**data, "clf": "tree\nnonsense"})
    with pytest.raises(ModelLoadError):
        Foresight.from_json({"format": 99})
    with pytest.raises(ModelLoadError):
        Foresight.from_json({"format": 1, "kind": "lightgbm"})  # no statistics


def test_too_little_history_falls_back_to_stage_medians_and_says_so():
    outcome = train(history(40), now=NOW)
    assert outcome.model.kind == "fallback" and outcome.report["kind"] == "fallback"
    assert outcome.model.notes[0].code == "fallback"
    assert "40 closed orders" in render(outcome.model.notes[0], "en")
    (p,) = outcome.model.predict_many([open_order(1, "Acme", 1, 5)], NOW)
    assert p.basis == "fallback" and p.stage_done_at is not None and p.completion_at is not None
    assert p.delay_probability is not None and 0 <= p.delay_probability <= 1
    assert p.reasons[0].code == "fallback"


def test_no_history_at_all_gives_no_prediction_not_an_error():
    outcome = train([], now=NOW)
    (p,) = outcome.model.predict_many([open_order(1, "Acme", 1, 5)], NOW)
    assert p.basis == "none" and p.completion_at is None and p.delay_probability is None
    assert [r.code for r in p.reasons] == ["no_history", "no_stage_history"]


def test_a_constant_target_trains_no_classifier_and_says_so():
    outcome = train(history(300, late_free=True), now=NOW)
    assert outcome.model.clf is None
    assert "constant_target" in [r.code for r in outcome.model.notes]
    assert "on time" in render(next(r for r in outcome.model.notes if r.code == "constant_target"), "en")
    (p,) = outcome.model.predict_many([open_order(1, "Acme", 1, 30)], NOW)
    assert p.completion_at is not None and p.delay_probability is not None


def test_missing_feature_columns_are_left_out_and_reported(trained):
    notes = [r for r in trained.model.notes if r.code == "feature_missing"]
    assert notes and set(notes[0].params["features"]) == {"region", "category", "supplier"}
    assert "region" in render(notes[0], "en") and "地区" in render(notes[0], "zh")


def test_an_order_in_an_unknown_stage_is_not_predicted(trained):
    (p,) = trained.model.predict_many([open_order(1, "Acme", 1, 5, stage="quality_check")], NOW)
    assert p.completion_at is None and p.stage_done_at is None


def test_a_new_model_replaces_the_live_one_only_if_not_worse():
    assert _not_worse({"brier": 0.10, "auc": 0.80}, {"brier": 0.11, "auc": 0.79}, 0.002, 0.01)
    assert not _not_worse({"brier": 0.15, "auc": 0.80}, {"brier": 0.11, "auc": 0.79}, 0.002, 0.01)
    assert not _not_worse({"brier": 0.10, "auc": 0.60}, {"brier": 0.11, "auc": 0.79}, 0.002, 0.01)
    outcome = train(history(500, seed=3), now=NOW, live=train(history(500), now=NOW).model)
    assert "live_on_holdout" in outcome.report and isinstance(outcome.better_than_live, bool)


def test_metrics():
    labels = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1])
    scores = np.array([0.1, 0.2, 0.1, 0.9, 0.8, 0.3, 0.2, 0.1, 0.4, 0.7])
    m = classification_metrics(labels, scores)
    assert m["auc"] == 1.0 and m["precision_at_10"] == 1.0 and m["base_rate"] == 0.3
    assert precision_at(labels, scores, 0.3) == 1.0
    assert classification_metrics(np.array([0, 0]), np.array([0.1, 0.2]))["auc"] is None


def test_training_reports_progress():
    seen = []
    train(history(250), now=NOW, config=TrainConfig(rounds=20), progress=lambda f, s: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_every_reason_renders_in_both_languages():
    from engine.foresight.explain import _TEXT, Reason

    params = {"closed": 3, "needed": 200, "late": True, "features": ["region"], "stage": "production",
              "days": 1.5, "typical": 1.0, "p90": 2.0, "stages": ["shipping"], "feature": "customer",
              "value": "Acme", "model": 0.2, "fallback": 0.19, "overall": 0.5}
    for code in _TEXT:
        for lang in ("en", "zh_CN"):
            text = render(Reason(code, params), lang)
            assert text != code and "{" not in text, (code, lang)


def test_drivers_are_worked_out_only_for_orders_that_show_a_probability(trained):
    import copy
    from dataclasses import replace

    contributions = []

    class Spy:
        def __init__(self, inner):
            self.inner = inner

        def predict(self, matrix, **kw):
            if kw.get("pred_contrib"):
                contributions.append(len(matrix))
            return self.inner.predict(matrix, **kw)

    model = copy.copy(trained.model)
    model.clf = Spy(trained.model.clf)
    risky = open_order(1, "Slowco", 6, 1)
    unplanned = replace(open_order(2, "Slowco", 6, 1), planned_delivery=None)
    with_plan, without = model.predict_many([risky, unplanned], NOW)
    assert with_plan.delay_probability >= 0.5 and without.delay_probability is None
    assert contributions == [1]  # TreeSHAP for the order whose risk is shown only
    assert not [r for r in without.reasons if r.code == "driver"]
    assert [r.code for r in with_plan.reasons] == [r.code for r in trained.model.predict_many([risky], NOW)[0].reasons]
