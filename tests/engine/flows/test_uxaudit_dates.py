"""A step that asks for one of the order's date columns refuses a value that is not a date (the
order's column could not hold it: free text typed on the order page was a 500), and takes a date."""

from __future__ import annotations

import pytest
from flowkit import Runner, one_node_flow

from engine import effects as fx
from engine.flows.events import CompleteTask, Start


def _runner() -> Runner:
    flow = one_node_flow({"type": "task", "assignees": [{"kind": "role", "role": "warehouse"}],
                          "required_fields": ["planned_delivery"]})
    r = Runner(flow, facts={"planned_delivery": "2027-01-10"})
    r.do(Start(initiator_id=1))
    return r


@pytest.mark.parametrize("typed", ["明天", "2027-13-01", "10/01/2027"])
def test_uxaudit_a_date_column_refuses_what_is_not_a_date(typed):
    r = _runner()
    err = r.refuse(CompleteTask(actor_id=30, task_id=r.todo("n", 30).id, values={"planned_delivery": typed}),
                   "flow.field_not_a_date")
    assert err.params["fields"] == ["planned_delivery"]


def test_uxaudit_a_date_column_takes_a_date():
    r = _runner()
    r.do(CompleteTask(actor_id=30, task_id=r.todo("n", 30).id, values={"planned_delivery": "2027-01-20"}))
    assert [e.value for e in r.all_of(fx.SetField) if e.field == "planned_delivery"] == ["2027-01-20"]
