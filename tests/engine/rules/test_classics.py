"""The five classic rules: valid, scan-able, and they match the orders they are meant for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.facts import FactContext, build_facts, default_catalogue
from engine.jsonlogic import matches
from engine.rules.classics import CLASSIC_RULES, classic_rule
from engine.rules.definition import load_rule
from engine.rules.validate import compile_check, matches_every_order, validate

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Thursday 11:00 Shanghai
CATALOGUE = default_catalogue().with_designed([("expected_completion", "date")])


def facts(**values):
    order = {"id": 1, "number": "SO-1", "stage": "production", "status": "open", "amount": 100, "currency": "CNY",
             "stage_entered_at": NOW, "created_at": NOW - timedelta(days=10), **values}
    return build_facts(order, CATALOGUE, FactContext(now=NOW))


@pytest.mark.parametrize("key", sorted(CLASSIC_RULES))
def test_classic_is_valid_time_rule_that_compiles(key):
    rule = load_rule(classic_rule(key))
    assert validate(rule, CATALOGUE) == []
    assert rule.is_time_rule and compile_check(rule.condition, CATALOGUE) is None
    assert not matches_every_order(rule.condition, CATALOGUE)


def test_delay_risk_reads_foresight_facts_on_any_installation():
    # predicted completion and delay probability are in every catalogue (issue 14): no designed field needed
    assert validate(load_rule(classic_rule("delay_risk")), default_catalogue()) == []


@pytest.mark.parametrize(
    "key, order, expected",
    [
        ("approval_timeout", {"stage": "approval", "stage_entered_at": NOW - timedelta(days=6)}, True),
        ("approval_timeout", {"stage": "approval", "stage_entered_at": NOW - timedelta(days=1)}, False),
        ("delay_risk", {"planned_delivery": date(2026, 12, 1),
                        "predicted_completion_at": datetime(2026, 12, 5, 3, tzinfo=UTC)}, True),
        ("delay_risk", {"planned_delivery": date(2026, 12, 9),
                        "predicted_completion_at": datetime(2026, 12, 5, 3, tzinfo=UTC)}, False),
        ("delay_risk", {"planned_delivery": date(2026, 12, 9), "delay_probability": 0.7,
                        "predicted_completion_at": datetime(2026, 12, 5, 3, tzinfo=UTC)}, True),
        ("delay_risk", {"planned_delivery": None, "delay_probability": 0.9,
                        "predicted_completion_at": datetime(2026, 12, 5, 3, tzinfo=UTC)}, False),
        ("delay_risk", {"planned_delivery": date(2026, 12, 1)}, False),  # not scored yet
        ("not_shipped_3_days", {"stage": "shipping", "stage_entered_at": NOW - timedelta(hours=73)}, True),
        ("not_shipped_3_days", {"stage": "shipping", "stage_entered_at": NOW - timedelta(hours=71)}, False),
        ("not_shipped_3_days", {"stage": "shipping", "stage_entered_at": NOW - timedelta(hours=73),
                                "shipped_at": NOW - timedelta(hours=30)}, False),  # travelling, not waiting
        ("follow_up_after_sign_off", {"signed_at": NOW - timedelta(hours=25), "stage": "payment"}, True),
        ("follow_up_after_sign_off", {"signed_at": NOW - timedelta(hours=23), "stage": "delivered"}, False),
        ("follow_up_after_sign_off", {"signed_at": None, "stage": "delivered",
                                      "stage_entered_at": NOW - timedelta(days=3)}, False),
        ("follow_up_after_sign_off", {"signed_at": NOW - timedelta(days=30)}, False),  # history, not news
        ("payment_due_reminder", {"payment_due": date(2026, 11, 29)}, True),
        ("payment_due_reminder", {"payment_due": date(2026, 11, 30)}, False),
        ("payment_due_reminder", {"payment_due": date(2026, 11, 25)}, False),
        ("payment_due_reminder", {"payment_due": None}, False),
    ],
)
def test_classic_matches_the_orders_it_is_for(key, order, expected):
    assert matches(classic_rule(key)["condition"], facts(**order)) is expected
