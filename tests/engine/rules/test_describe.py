"""The JSON summary of an effect that dry runs, previews and the firing history show."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from engine import effects as fx
from engine.rules.actions import describe_effect


def test_a_todo_shows_its_texts_people_and_due_time():
    due = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    todo = fx.CreateTodo(dedupe_key="rule:r:1:1:0", kind="reminder", title="Approve SO-1", body="late",
                         assignee_ids=(3, 4), due_at=due)
    out = describe_effect(todo)
    assert out["type"] == "CreateTodo" and out["dedupe_key"] == "rule:r:1:1:0"
    assert out["title"] == "Approve SO-1" and out["assignee_ids"] == [3, 4] and out["due_at"] == due.isoformat()
    json.dumps(out)  # stored in rule_firing.effects as JSON


def test_only_the_attributes_an_effect_has():
    out = describe_effect(fx.AddTag(dedupe_key="k", tag="watch"))
    assert out == {"type": "AddTag", "dedupe_key": "k", "tag": "watch"}
