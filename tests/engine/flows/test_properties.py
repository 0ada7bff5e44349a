"""Property: random sequences of actions never leave an instance in an impossible state.

Impossible (engine.flows.state.check_invariants): a finished order with open to-dos or active
nodes, a sequential (依次) node with two active approvers, a join fired while one of its
branches still runs, an open to-do without an active node, a running instance with nothing
active. A refused action must leave the state exactly as it was.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flowkit import DIRECTORY, T0, load, one_node_flow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import effects as fx
from engine.flows import FlowError, FlowState, check_invariants, load_definition, step, validate
from engine.flows.events import (
    AddSigner,
    Approve,
    Comment,
    CompleteTask,
    FieldsChanged,
    Reject,
    Resubmit,
    SendBack,
    Start,
    TimerFired,
    Transfer,
    Urge,
    Withdraw,
)

USERS = (1, 2, 10, 11, 20, 21, 30, 31, 32, 40, 50, 99)


def _nested_parallel():
    data = load("parallel").to_json()
    data["nodes"].append(
        {
            "type": "approval",
            "key": "finance_sign",
            "assignees": [{"kind": "users", "user_ids": [20, 21]}],
            "mode": "in_sequence",
            "time_limit": {"hours": 2, "unit": "calendar_hours", "on_timeout": "escalate"},
        }
    )
    for edge in data["edges"]:
        if edge["key"] == "e4":
            edge["target"] = "finance_sign"
    data["edges"].append({"key": "e8", "source": "finance_sign", "target": "join"})
    return load_definition(data)


DEFINITIONS = [
    load("b2b_fulfilment"),
    load("parallel"),
    _nested_parallel(),
    load("rework_loop"),
    load("automatic"),
    one_node_flow(
        {
            "type": "approval",
            "assignees": [{"kind": "users", "user_ids": [20, 21, 40]}],
            "mode": "in_sequence",
            "time_limit": {"hours": 1, "unit": "working_hours", "on_timeout": "auto_approve"},
        }
    ),
    one_node_flow(
        {
            "type": "approval",
            "assignees": [{"kind": "role", "role": "warehouse"}],
            "mode": "all_of",
            "time_limit": {
                "hours": 1,
                "unit": "calendar_hours",
                "on_timeout": "reassign",
                "reassign_to": {"kind": "users", "user_ids": [40]},
            },
        }
    ),
    one_node_flow(
        {"type": "approval", "assignees": [{"kind": "field", "field": "data.qa"}], "on_no_approver": "block"}
    ),
]


def test_definitions_used_are_valid():
    for defn in DEFINITIONS:
        assert validate(defn) == [], defn.key


def candidates(defn, state: FlowState, facts, timers) -> tuple[list, list]:
    """(likely, noise): the actions people usually take on open to-dos, and everything else:
    wrong people, closed or stale to-dos, actions in the wrong status."""
    likely: list = []
    noise: list = [
        Start(initiator_id=1),
        Withdraw(actor_id=1),
        Withdraw(actor_id=2),
        Urge(actor_id=1),
        Resubmit(actor_id=1),
        Resubmit(actor_id=20),
        FieldsChanged(),
    ]
    for task in state.tasks[-4:]:
        if task.status in ("done", "cancelled"):  # stale: someone else was faster
            noise += [
                Approve(actor_id=task.assignee_id, task_id=task.id),
                CompleteTask(actor_id=task.assignee_id, task_id=task.id),
            ]
    for task in state.open_tasks():
        node = defn.nodes_by_key.get(task.node_key)
        values = {f: "v" for f in getattr(node, "required_fields", ())}
        right = task.assignee_id
        likely += [
            Approve(actor_id=right, task_id=task.id, values=values),
            Approve(actor_id=right, task_id=task.id, values=values),
            CompleteTask(actor_id=right, task_id=task.id, values=values),
            CompleteTask(actor_id=right, task_id=task.id, values=values),
            Reject(actor_id=right, task_id=task.id),
            SendBack(actor_id=right, task_id=task.id, to="previous"),
            Transfer(actor_id=right, task_id=task.id, to_user_id=40 if right != 40 else 31),
            AddSigner(actor_id=right, task_id=task.id, user_ids=(50,), position="before"),
            AddSigner(actor_id=right, task_id=task.id, user_ids=(32, 21), position="after"),
        ]
        likely += [SendBack(actor_id=right, task_id=task.id, to="node", node_key=k) for k in state.completed]
        noise += [
            SendBack(actor_id=right, task_id=task.id, to="initiator"),
            Approve(actor_id=99, task_id=task.id, values=values),
            CompleteTask(actor_id=right, task_id=task.id),
            Comment(actor_id=99, task_id=task.id, note="n", attachments=("a.pdf",)),
        ]
    if state.status in ("rejected", "withdrawn", "sent_back"):
        likely.append(Resubmit(actor_id=1))
    for token_id, (kind, n) in timers.items():
        likely.append(TimerFired(kind=kind, token_id=token_id, n=n))
        noise.append(TimerFired(kind=kind, token_id=token_id, n=n + 1))
    return likely, noise


FACT_CHANGES = [
    {"data.qa_passed": True},
    {"data.qa_passed": False},
    {"data.qa": 31},
    {"data.qa": None},
    {"data.ship_on": "2026-11-24"},
    {"amount": 150000},
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    which=st.integers(min_value=0, max_value=len(DEFINITIONS) - 1),
    amount=st.sampled_from([1000, 100000]),
)
def test_random_actions_never_reach_an_impossible_state(data, which, amount):
    defn = DEFINITIONS[which]
    facts = {"amount": amount, "owner_id": 1, "planned_delivery": "2026-12-20"}
    state = FlowState()
    now = T0
    timers: dict[str, tuple[str, int]] = {}
    state = step(
        defn, state, Start(initiator_id=1, instance_id=1), now, directory=DIRECTORY, facts=facts
    ).state
    for _ in range(data.draw(st.integers(min_value=1, max_value=30), label="length")):
        if data.draw(st.integers(0, 9), label="change facts?") == 0:
            facts.update(data.draw(st.sampled_from(FACT_CHANGES), label="facts"))
        likely, noise = candidates(defn, state, facts, timers)
        use_likely = likely and data.draw(st.integers(0, 4), label="likely?") > 0
        event = data.draw(st.sampled_from(likely if use_likely else noise), label="event")
        now = now + timedelta(minutes=data.draw(st.integers(0, 600), label="minutes"))
        before = json.dumps(state.to_json(), sort_keys=True)
        try:
            result = step(defn, state, event, now, directory=DIRECTORY, facts=facts)
        except FlowError:
            assert json.dumps(state.to_json(), sort_keys=True) == before
            continue
        assert json.dumps(state.to_json(), sort_keys=True) == before  # the input was not mutated
        restored = FlowState.from_json(json.loads(json.dumps(result.state.to_json())))
        assert restored == result.state
        problems = check_invariants(defn, restored)
        assert problems == [], (event, problems)
        for effect in result.effects:
            if isinstance(effect, fx.ScheduleTimer):
                timers[effect.payload["token_id"]] = (effect.kind, effect.payload["n"])
        keys = [e.dedupe_key for e in result.effects]
        assert len(keys) == len(set(keys)), keys
        state = restored
    if state.status in ("completed", "cancelled", "rejected", "withdrawn"):
        assert state.open_tasks() == [] and state.tokens == []


def test_invariant_checker_catches_impossible_states():
    """The checker itself must fail on the states it is meant to forbid."""
    defn = DEFINITIONS[5]  # in_sequence
    state = step(defn, FlowState(), Start(initiator_id=1), T0, directory=DIRECTORY).state
    assert check_invariants(defn, state) == []
    two_active = state.model_copy(deep=True)
    for task in two_active.tasks:
        task.status = "pending"
    assert any(p.startswith("sequence_with_two_active") for p in check_invariants(defn, two_active))
    finished = state.model_copy(deep=True)
    finished.status = "completed"
    assert "completed_with_open_todos" in check_invariants(defn, finished)
    parallel = load("parallel")
    running = step(parallel, FlowState(), Start(initiator_id=1), T0, directory=DIRECTORY).state
    early = running.model_copy(deep=True)
    split = early.tokens[0].branch[0].split(":", 1)[0]
    from engine.flows.state import HistoryEntry

    early.history.append(HistoryEntry(at=T0, action="join_fired", node_key="join", params={"split": split}))
    assert any(p.startswith("join_fired_early") for p in check_invariants(parallel, early))
