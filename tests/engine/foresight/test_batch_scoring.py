"""engine/foresight/batch.py: scoring orders as columns gives the numbers predict_many gives."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.foresight import OpenOrder, TrainConfig, batch, train
from engine.foresight.batch import BASIS, KNOWN, OpenColumns, epoch_days, epoch_seconds, score_columns
from engine.foresight.features import base_row as batch_base_row
from tests.factories.foresight_history import history

NOW = datetime(2026, 12, 1, 9, 30, 15, 250_000, tzinfo=UTC)
SUPPLIERS = ("Fastparts", "Slowparts", "Midparts", None)


def _with_more_features(histories):
    out = []
    for i, h in enumerate(histories):
        features = {**h.features, "supplier": SUPPLIERS[i % 4], "region": ("north", "south")[i % 2],
                    "category": ("pumps", "valves", "pipes")[i % 3]}
        out.append(dataclasses.replace(h, features=features))
    return out


@pytest.fixture(scope="module")
def models():
    histories = _with_more_features(history(500))
    return {"lightgbm": train(histories, now=NOW).model,
            "fallback": train(histories, now=NOW, config=TrainConfig(min_orders=10**9, holdout=0.0)).model}


def _orders(count: int, seed: int = 3) -> list[OpenOrder]:
    rng = random.Random(seed)
    stages = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing", "nowhere")
    out = []
    for i in range(count):
        planned = None if i % 5 == 0 else (NOW + timedelta(days=rng.uniform(-10, 30))).date()
        features = {"customer": rng.choice(("Acme", "Beta", "Gamma", "Delta", "Slowco", "New")),
                    "owner": rng.choice(("rep0", "rep1", "rep2", None)), "supplier": rng.choice(SUPPLIERS),
                    "region": rng.choice(("north", "south", None)), "category": rng.choice(("pumps", "valves", None)),
                    "amount": rng.choice((None, 0.5, 1.0, 999.99, 1000.0, 1000 + rng.random() * 90000))}
        out.append(OpenOrder(i + 1, stages[i % len(stages)],
                             NOW - timedelta(hours=rng.uniform(0, 24 * 40), microseconds=rng.randrange(10**6)),
                             planned, features))
    return out


def _columns(orders: list[OpenOrder]) -> OpenColumns:
    names = ("customer", "owner", "region", "category", "supplier")
    return OpenColumns(
        np.array([o.order_id for o in orders], dtype=np.int64), [o.stage for o in orders],
        np.array([epoch_seconds(o.stage_entered_at) for o in orders]),
        np.array([epoch_days(o.planned_delivery) for o in orders]),
        np.array([np.nan if o.features["amount"] is None else o.features["amount"] for o in orders]),
        {n: [o.features.get(n) for o in orders] for n in names})


def _seconds(value):
    return math.nan if value is None else value.timestamp()


def _same(a: float, b: float, tolerance: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance


@pytest.mark.parametrize("kind", ["lightgbm", "fallback"])
def test_columns_score_as_predict_many_does(models, kind):
    model = models[kind]
    assert model.kind == kind
    orders = _orders(1200)
    expected = model.predict_many(orders, NOW)
    got = score_columns(model, _columns(orders), NOW)
    assert got.order_id.tolist() == [p.order_id for p in expected]
    assert [BASIS[b] for b in got.basis.tolist()] == [p.basis for p in expected]
    assert {p.basis for p in expected} >= ({"none", "model"} if kind == "lightgbm" else {"none", "fallback"})
    with_probability = 0
    for i, p in enumerate(expected):
        for column, value in (("stage_done", p.stage_done_at), ("stage_done_p90", p.stage_done_p90_at),
                              ("completion", p.completion_at), ("completion_p90", p.completion_p90_at)):
            assert _same(float(getattr(got, column)[i]), _seconds(value), 0.01), (i, column, p)
        prob = float(got.probability[i])
        assert _same(prob, math.nan if p.delay_probability is None else p.delay_probability, 1e-4), (i, p)
        with_probability += p.delay_probability is not None
        assert _same(float(got.stage_p90_hours[i]), math.nan if p.stage_p90_hours is None else p.stage_p90_hours,
                     1e-9)
    assert with_probability > 500


def test_a_feature_this_module_does_not_know_takes_the_order_by_order_path(models, monkeypatch):
    model = models["lightgbm"]
    assert set(model.encoder.names) <= KNOWN
    orders = _orders(300, seed=5)
    fast = score_columns(model, _columns(orders), NOW)
    calls = []
    monkeypatch.setattr(batch, "KNOWN", KNOWN - {"month"})  # as if "month" were a new feature
    monkeypatch.setattr(batch, "base_row", lambda *a: calls.append(1) or batch_base_row(*a))
    slow = score_columns(model, _columns(orders), NOW)
    assert len(calls) == 2 * len(orders)  # the duration models' matrix and the classifier's
    np.testing.assert_allclose(fast.probability, slow.probability, atol=1e-12)
    np.testing.assert_allclose(fast.completion, slow.completion, atol=1e-6)

