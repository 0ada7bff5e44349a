"""The supplier (and region) as model features, and the explanation that names a slow supplier."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from engine.foresight import Foresight, OpenOrder, render, train
from engine.foresight.history import visits
from engine.foresight.stats import GROUP_VALUES, group_stats
from tests.factories.foresight_history import history

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SLOW = "成都西部重工"


def _by_supplier(count):
    """The factory's slow customer made a slow supplier: the pattern lives in `supplier` only."""
    out = []
    for i, h in enumerate(history(count)):
        supplier = SLOW if h.features["customer"] == "Slowco" else f"厂{i % 3}"
        out.append(replace(h, features={**h.features, "customer": f"C{i % 7}", "supplier": supplier,
                                        "region": ("华东", "华南")[i % 2]}))
    return out


def test_a_slow_supplier_is_learnt_and_named_in_the_explanation():
    trained = train(_by_supplier(500), now=NOW)
    report = trained.report
    assert report["kind"] == "lightgbm"
    importances = dict(report["lightgbm"]["importances"])
    assert max(importances, key=importances.get) == "supplier"
    assert "region" in importances  # a feature of the model, bounded like the others
    order = OpenOrder(1, "production", NOW - timedelta(days=1), (NOW + timedelta(days=3)).date(),
                      {"customer": "C1", "owner": "rep1", "supplier": SLOW, "region": "华东", "amount": 5000})
    usual = OpenOrder(2, "production", NOW - timedelta(days=1), (NOW + timedelta(days=3)).date(),
                      {"customer": "C1", "owner": "rep1", "supplier": "厂1", "region": "华东", "amount": 5000})
    slow, fast = trained.model.predict_many([order, usual], NOW)
    assert slow.delay_probability > fast.delay_probability
    named = [r for r in slow.reasons if r.code == "group_stage"]
    assert named and named[0].params["feature"] == "supplier" and named[0].params["value"] == SLOW
    assert named[0].params["typical"] > 2 * named[0].params["overall"]
    assert not [r for r in fast.reasons if r.code == "group_stage"]
    text = render(named[0], "en")
    assert text.startswith(f"supplier {SLOW}: production typically") and "days" in text
    assert render(named[0], "zh_CN").startswith(f"供应商「{SLOW}」：production通常")
    # it survives the JSON round trip (the model is stored as text)
    again = Foresight.from_json(trained.model.to_json()).predict_many([order], NOW)[0]
    assert [r for r in again.reasons if r.code == "group_stage"] == named


def test_group_figures_are_bounded():
    many = [replace(h, features={**h.features, "supplier": f"S{i % 100}"}) for i, h in enumerate(_by_supplier(600))]
    groups = group_stats(visits(many))
    assert len(groups["supplier"]) == GROUP_VALUES  # 100 suppliers with 6 orders each: the 50 biggest kept
    # a value with fewer than GROUP_MIN_VISITS stays in a stage has no figure for it
    assert all(n >= 5 for by_stage in groups["region"].values() for n, _ in by_stage.values())
