"""What-if replay of a changed flow in the engine: recorded decisions driven through two versions on a
virtual clock; paths, to-dos per kind of assignee, step durations, estimates and stuck orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.flows import StaticDirectory
from engine.flows.definition import load_definition
from engine.flows.events import Approve, CompleteTask, Reject, Resubmit, SendBack, Start
from engine.flows.state import FlowState
from engine.flows.step import step
from engine.replay.flow_diff import compare_flows, percentile
from engine.replay.flows import history_of, replay, waits_of
from engine.replay.timeline import Step

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
END = T0 + timedelta(days=60)
DIRECTORY = StaticDirectory(roles={"manager": (2,), "director": (3,), "warehouse": (4,), "admin": (9,)})


def flow(threshold, *, version=1, extra=False, ship_required=()):
    nodes = [
        {"key": "start", "type": "start"},
        {"key": "mgr", "type": "approval", "assignees": [{"kind": "role", "role": "manager"}]},
        {"key": "big", "type": "exclusive"},
        {"key": "director", "type": "approval", "assignees": [{"kind": "role", "role": "director"}]},
        {"key": "ship", "type": "task", "assignees": [{"kind": "role", "role": "warehouse"}],
         "required_fields": list(ship_required)},
        {"key": "end", "type": "end"},
    ]
    edges = [
        {"key": "e1", "source": "start", "target": "mgr"},
        {"key": "e2", "source": "mgr", "target": "big"},
        {"key": "e3", "source": "big", "target": "director", "condition": {">=": [{"var": "amount"}, threshold]}},
        {"key": "e4", "source": "big", "target": "ship", "is_default": True},
        {"key": "e5", "source": "director", "target": "ship"},
        {"key": "e6", "source": "ship", "target": "end"},
    ]
    if extra:  # a finance check nobody ever did before
        nodes.append({"key": "finance", "type": "approval", "assignees": [{"kind": "role", "role": "finance"}],
                      "on_no_approver": "skip"})
        edges = [e for e in edges if e["key"] != "e6"] + [
            {"key": "e7", "source": "ship", "target": "finance"}, {"key": "e8", "source": "finance", "target": "end"}]
    return load_definition({"key": "order", "version": version, "nodes": nodes, "edges": edges})


def recorded(order_id, amount, decisions, *, defn=None, data_steps=()):
    """Run the published flow for real (in memory) with people deciding after the given hours."""
    defn = defn or flow(100_000)
    steps = [Step(T0, {"amount": amount, "data": {}}, ()), *data_steps]
    facts = lambda at: max((s for s in steps if s.at <= at), key=lambda s: s.at).values  # noqa: E731
    state = step(defn, FlowState(), Start(initiator_id=1), T0, directory=DIRECTORY, facts=facts(T0)).state
    for hours, action in decisions:
        at = T0 + timedelta(hours=hours)
        if action == "resubmit":
            state = step(defn, state, Resubmit(actor_id=1), at, directory=DIRECTORY, facts=facts(at)).state
            continue
        [task] = [t for t in state.pending_tasks() if t.kind != "resubmit"]
        event = {"approve": Approve(actor_id=task.assignee_id, task_id=task.id),
                 "reject": Reject(actor_id=task.assignee_id, task_id=task.id),
                 "send_back": SendBack(actor_id=task.assignee_id, task_id=task.id, to="initiator"),
                 "complete": CompleteTask(actor_id=task.assignee_id, task_id=task.id)}[action]
        state = step(defn, state, event, at, directory=DIRECTORY, facts=facts(at)).state
    return history_of(order_id, f"SO-{order_id}", state.to_json()["history"], steps=steps)


def test_replaying_the_version_the_orders_ran_reproduces_their_record():
    h = recorded(1, 150_000, [(4, "approve"), (30, "approve"), (50, "complete")])
    waits = waits_of([h], [flow(100_000)])
    run = replay(flow(100_000), [h], directory=DIRECTORY, waits=waits, end=END).runs[1]
    assert run.path == ("mgr", "director", "ship", "end")
    assert run.status == "completed" and run.estimated == []
    assert run.durations == {"mgr": [4 * 3600], "director": [26 * 3600], "ship": [20 * 3600]}
    assert run.finished_seconds == 50 * 3600
    assert run.todos == {"role:manager": 1, "role:director": 1, "role:warehouse": 1}


def test_a_lower_threshold_reaches_the_director_with_an_estimated_wait():
    big = recorded(1, 150_000, [(4, "approve"), (30, "approve"), (50, "complete")])
    mid = recorded(2, 70_000, [(2, "approve"), (10, "complete")])
    small = recorded(3, 20_000, [(1, "approve"), (5, "complete")])
    histories = [big, mid, small]
    waits = waits_of(histories, [flow(100_000), flow(50_000, version=2)])
    before = replay(flow(100_000), histories, directory=DIRECTORY, waits=waits, end=END)
    after = replay(flow(50_000, version=2), histories, directory=DIRECTORY, waits=waits, end=END)
    new = after.runs[2]
    assert new.path == ("mgr", "director", "ship", "end")
    [estimate] = new.estimated
    # the director's recorded wait on the big order (26 h) is the estimate; ship keeps its recorded 8 h
    assert (estimate.node_key, estimate.basis, estimate.samples, estimate.seconds) == ("director", "step", 1, 26 * 3600)
    assert new.durations["ship"] == [8 * 3600]
    assert new.finished_seconds == (2 + 26 + 8) * 3600

    diff = compare_flows(before, after)
    assert diff.changed_paths == (2,)
    [change] = diff.steps
    assert (change.node_key, change.now_reached, change.now_skipped) == ("director", (2,), ())
    assert diff.todos_before["role:director"] == 1 and diff.todos_after["role:director"] == 2
    assert diff.todos_after["role:warehouse"] == diff.todos_before["role:warehouse"] == 3
    director = next(d for d in diff.durations if d.node_key == "director")
    assert (director.count_before, director.count_after, director.estimated_after) == (1, 2, 1)
    assert diff.estimated["director"] == ("step", 1, 26 * 3600, 1)
    assert diff.outcomes_after == {"completed": 3}


def test_a_step_nothing_in_the_history_resembles_leaves_the_order_stuck():
    h = recorded(1, 20_000, [(1, "approve"), (5, "complete")])
    changed = flow(100_000, version=2, extra=True)
    # finance has no recorded decision anywhere and is the only approval of its kind: no estimate from
    # the step or its people, but approvals in general were recorded -> estimated by type
    waits = waits_of([h], [flow(100_000), changed])
    run = replay(changed, [h], directory=StaticDirectory(roles={**DIRECTORY.roles, "finance": (5,)}),
                 waits=waits, end=END).runs[1]
    assert run.status == "completed" and run.estimated[0].basis == "type"
    # with no approval recorded at all the history cannot answer: stuck, not invented
    empty = waits_of([], [changed])
    stuck = replay(changed, [h], directory=StaticDirectory(roles={**DIRECTORY.roles, "finance": (5,)}),
                   waits=empty, end=END).runs[1]
    assert stuck.status == "stuck" and stuck.stuck == ("finance", "no_history")
    assert stuck.open_at == ("finance",)


def test_a_required_field_never_recorded_is_reported_not_invented():
    h = recorded(1, 20_000, [(1, "approve"), (5, "complete")])
    changed = flow(100_000, version=2, ship_required=("data.tracking_no",))
    waits = waits_of([h], [flow(100_000), changed])
    run = replay(changed, [h], directory=DIRECTORY, waits=waits, end=END).runs[1]
    assert run.stuck == ("ship", "flow.required_fields_missing")
    # recorded later with its value: the completion carries it, the order finishes
    filled = recorded(2, 20_000, [(1, "approve"), (5, "complete")],
                      data_steps=[Step(T0 + timedelta(hours=5), {"amount": 20_000, "data": {"tracking_no": "X1"}}, ())])
    assert replay(changed, [filled], directory=DIRECTORY, waits=waits, end=END).runs[2].status == "completed"


def test_rejections_and_open_orders_follow_the_record():
    rejected = recorded(1, 150_000, [(4, "approve"), (6, "reject")])
    waiting = recorded(2, 20_000, [(3, "approve")])  # the warehouse has not shipped yet
    waits = waits_of([rejected, waiting], [flow(100_000)])
    result = replay(flow(100_000), [rejected, waiting], directory=DIRECTORY, waits=waits, end=END)
    assert result.runs[1].status == "rejected"
    assert result.runs[2].status == "running" and result.runs[2].open_at == ("ship",)
    assert result.runs[2].stuck is None
    # nothing after the window's end is replayed
    early = replay(flow(100_000), [rejected], directory=DIRECTORY, waits=waits, end=T0 + timedelta(hours=5))
    assert early.runs[1].status == "running" and early.runs[1].open_at == ("director",)


def test_a_send_back_and_resubmission_are_replayed_at_their_recorded_distances():
    h = recorded(1, 20_000, [(2, "send_back"), (10, "resubmit"), (13, "approve"), (20, "complete")])
    assert h.resubmit_delays == (timedelta(hours=8),)
    waits = waits_of([h], [flow(100_000)])
    run = replay(flow(100_000), [h], directory=DIRECTORY, waits=waits, end=END).runs[1]
    assert run.path == ("mgr", "mgr", "ship", "end") and run.status == "completed"
    assert run.durations["mgr"] == [2 * 3600, 3 * 3600]
    assert run.todos == {"role:manager": 2, "initiator": 1, "role:warehouse": 1}
    assert run.finished_seconds == 20 * 3600


def test_a_new_time_limit_escalates_on_the_virtual_clock():
    h = recorded(1, 20_000, [(30, "approve"), (40, "complete")])
    changed = load_definition({**flow(100_000).to_json(), "version": 2, "nodes": [
        {**n, "time_limit": {"hours": 4, "unit": "calendar_hours", "on_timeout": "escalate"}} if n["key"] == "mgr"
        else n for n in flow(100_000).to_json()["nodes"]]})
    directory = StaticDirectory(roles=DIRECTORY.roles, managers={2: 7})
    waits = waits_of([h], [changed])
    run = replay(changed, [h], directory=directory, waits=waits, end=END).runs[1]
    # after 4 h the manager's to-do goes to their manager, who decides when the record says
    assert run.todos == {"role:manager": 1, "manager": 1, "role:warehouse": 1}
    assert run.status == "completed" and run.durations["mgr"] == [30 * 3600]


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([float(v) for v in range(1, 11)], 50) == 5.0
    assert percentile([float(v) for v in range(1, 11)], 90) == 9.0
