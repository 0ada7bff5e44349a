"""The pure history planner (engine/ingest/history.py): no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.ingest.history import HistoryError, Point, plan_history

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2017, 10, day, hour, tzinfo=UTC)


def points(*times):
    stages = ("draft", "approval", "shipping", "delivered")
    columns = ("bought", "approved", "carrier", "customer")
    return [Point(s, c, t, t.isoformat() if t else "") for s, c, t in zip(stages, columns, times, strict=False)]


def test_a_delivered_order_enters_each_stage_at_its_own_time():
    plan = plan_history(points(at(2), at(2, 1), at(4), at(10)), final_stage="delivered", status="completed", now=NOW)
    assert (plan.created_at, plan.first_stage, plan.stage, plan.stage_entered_at) == (at(2), "draft", "delivered", at(10))
    assert (plan.status, plan.closed_at) == ("completed", at(10))
    assert [(t.at, t.before, t.after) for t in plan.transitions] == [
        (at(2, 1), {"stage": "draft"}, {"stage": "approval"}),
        (at(4), {"stage": "approval"}, {"stage": "shipping"}),
        (at(10), {"stage": "shipping", "status": "open"}, {"stage": "delivered", "status": "completed"}),
    ]


def test_missing_times_are_skipped_and_the_records_stage_is_placed_at_the_last_known_time():
    plan = plan_history(points(at(2), at(3), None, None), final_stage="invoicing", status="open", now=NOW)
    assert [t.after for t in plan.transitions] == [{"stage": "approval"}, {"stage": "invoicing"}]
    assert (plan.stage, plan.stage_entered_at, plan.closed_at) == ("invoicing", at(3), None)


def test_a_cancelled_order_without_a_stage_stays_where_it_got_and_closes_at_the_last_known_time():
    plan = plan_history(points(at(2), at(3), None, None), final_stage=None, status="cancelled", now=NOW)
    assert (plan.stage, plan.stage_entered_at, plan.closed_at) == ("approval", at(3), at(3))
    assert plan.transitions[-1].after == {"stage": "approval", "status": "cancelled"}
    only = plan_history(points(at(2), None, None, None), final_stage=None, status="cancelled", now=NOW)
    assert [(t.at, t.before, t.after) for t in only.transitions] == [(at(2), {"status": "open"},
                                                                       {"status": "cancelled"})]


def test_equal_times_are_kept_and_a_repeated_stage_is_one_stay():
    plan = plan_history([Point("draft", "a", at(2)), Point("draft", "b", at(3)), Point("shipping", "c", at(3))],
                        final_stage=None, status="open", now=NOW)
    assert [(t.at, t.after) for t in plan.transitions] == [(at(3), {"stage": "shipping"})]
    assert plan.stage_entered_at == at(3)


@pytest.mark.parametrize(("times", "code", "column"), [
    ((at(2), at(4), at(3), at(10)), "import.history_out_of_order", "carrier"),
    ((at(2), None, at(1), None), "import.history_out_of_order", "carrier"),
    ((None, at(3), None, None), "import.history_start_missing", "bought"),
    ((at(2), datetime(2027, 1, 1, tzinfo=UTC), None, None), "import.history_in_future", "approved"),
])
def test_a_history_that_cannot_be_replayed_is_refused_naming_the_cell(times, code, column):
    with pytest.raises(HistoryError) as caught:
        plan_history(points(*times), final_stage=None, status="open", now=NOW)
    assert (caught.value.code, caught.value.column) == (code, column)
    if code == "import.history_out_of_order":
        assert caught.value.params["previous"] in ("approved", "bought")
