"""Time limits on a business calendar and what happens when they are over."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flowkit import T0, Runner, one_node_flow

from engine import effects as fx
from engine.calendar import BusinessCalendar, add_working_hours
from engine.flows import FlowDefinition, load_definition
from engine.flows.directory import StaticDirectory
from engine.flows.events import Approve, Start, TimerFired

SH = ZoneInfo("Asia/Shanghai")


def flow(on_timeout, *, hours=8, unit="working_hours", assignees=None, mode="any_of", calendar=None, **limit):
    defn = one_node_flow(
        {
            "type": "task",
            "assignees": assignees or [{"kind": "role", "role": "warehouse"}],
            "mode": mode,
            "time_limit": {"hours": hours, "unit": unit, "on_timeout": on_timeout, **limit},
        }
    )
    if calendar is not None:
        data = defn.to_json()
        data["calendar"] = calendar.model_dump(mode="json")
        defn = load_definition(data)
    return Runner(defn)


def fire(r: Runner):
    timer = r.last_of(fx.ScheduleTimer)[-1]
    r.now = timer.fire_at
    r.do(TimerFired(kind=timer.kind, token_id=timer.payload["token_id"], n=timer.payload["n"]))
    return timer


class TestDueDates:
    def test_working_hours_skip_night_and_weekend(self):
        # Friday 2026-11-27 16:00 Shanghai + 8 working hours = Monday 16:00 (16-18, 9-12, 13-16)
        r = flow("remind")
        r.now = datetime(2026, 11, 27, 16, tzinfo=SH)
        r.do(Start(initiator_id=1))
        due = r.last_of(fx.ScheduleTimer)[0].fire_at
        assert due == datetime(2026, 11, 30, 16, tzinfo=SH)
        assert r.todo("n").due_at == due

    def test_holiday_on_the_calendar_is_skipped(self):
        cal = BusinessCalendar(holidays={date(2026, 11, 30)})
        r = flow("remind", calendar=cal)
        r.now = datetime(2026, 11, 27, 16, tzinfo=SH)
        r.do(Start(initiator_id=1))
        assert r.last_of(fx.ScheduleTimer)[0].fire_at == datetime(2026, 12, 1, 16, tzinfo=SH)

    def test_calendar_hours_count_every_hour(self):
        r = flow("remind", hours=30, unit="calendar_hours")
        r.do(Start(initiator_id=1))
        assert r.last_of(fx.ScheduleTimer)[0].fire_at == T0 + timedelta(hours=30)


class TestOnTimeout:
    def test_remind_notifies_and_repeats_three_times(self):
        r = flow("remind", hours=2)
        r.do(Start(initiator_id=1))
        fires = []
        for _ in range(3):
            fires.append(fire(r).fire_at)
            assert r.last_of(fx.Notify)[0].user_ids == (30, 31)
        assert fires == sorted(fires) and len(set(fires)) == 3
        assert r.last_of(fx.ScheduleTimer) == []  # the third reminder is the last
        assert r.state.active_node_keys() == ["n"]

    def test_escalate_hands_todos_to_the_assignees_manager(self):
        r = flow("escalate")
        r.do(Start(initiator_id=1))
        old = r.todo("n", 30)
        fire(r)
        assert sorted(t.assignee_id for t in r.pending()) == [32, 32]
        assert r.state.task(old.id).outcome == "escalated"
        assert r.refuse(Approve(actor_id=30, task_id=old.id), "flow.task_closed")

    def test_escalate_without_manager_goes_to_admin(self):
        r = flow("escalate", assignees=[{"kind": "users", "user_ids": [20]}])
        r.do(Start(initiator_id=1))
        fire(r)
        assert [t.assignee_id for t in r.pending()] == [99]

    def test_auto_approve_completes_the_node(self):
        r = flow("auto_approve", assignees=[{"kind": "users", "user_ids": [30, 31]}], mode="in_sequence")
        r.do(Start(initiator_id=1))
        fire(r)
        assert r.state.status == "completed"
        assert [t.outcome for t in r.state.tasks] == ["auto_approved", "superseded"]

    def test_auto_reject_rejects_the_order(self):
        r = flow("auto_reject")
        r.do(Start(initiator_id=1))
        fire(r)
        assert r.state.status == "rejected" and r.state.open_tasks() == []

    def test_reassign_to_named_people(self):
        r = flow("reassign", reassign_to={"kind": "role", "role": "finance"}, mode="in_sequence")
        r.do(Start(initiator_id=1))
        fire(r)
        assert [t.assignee_id for t in r.pending()] == [40]
        assert [t.outcome for t in r.state.tasks if t.status == "done"] == ["reassigned"]
        # the second in the sequence is still queued behind the new holder
        from engine.flows.events import CompleteTask

        r.do(CompleteTask(actor_id=40, task_id=r.todo("n").id))
        assert [t.assignee_id for t in r.pending()] == [31]

    def test_timer_of_a_node_already_left_is_stale(self):
        r = flow("remind")
        r.do(Start(initiator_id=1))
        timer = r.last_of(fx.ScheduleTimer)[0]
        from engine.flows.events import CompleteTask

        r.do(CompleteTask(actor_id=30, task_id=r.todo("n", 30).id))
        assert [c.timer_dedupe_key for c in r.last_of(fx.CancelTimer)] == [timer.dedupe_key]
        r.refuse(TimerFired(kind="flow.timeout", token_id=timer.payload["token_id"], n=1), "flow.timer_stale")


@pytest.mark.parametrize("unit", ["working_hours", "calendar_hours"])
def test_due_date_is_utc(unit):
    r = flow("remind", unit=unit)
    r.do(Start(initiator_id=1))
    assert r.last_of(fx.ScheduleTimer)[0].fire_at.utcoffset() == timedelta(0)


# A deeper org chart for climbing: 30 -> 32 (team lead) -> 20 (director), who has no manager.
CHAIN = StaticDirectory(
    roles={"warehouse": (30, 31), "approver": (20,), "admin": (99,)},
    managers={30: 32, 31: 32, 32: 20},
)


def held_by(r: Runner) -> list[int]:
    return sorted(t.assignee_id for t in r.pending())


class TestTimeoutLadder:
    """Successive time-outs of one visit climb a ladder; a virtual clock restarts at every rung."""

    def test_escalation_restarts_the_clock_and_then_reminds_the_manager(self):
        r = flow("escalate", assignees=[{"kind": "users", "user_ids": [30]}])
        r.do(Start(initiator_id=1))
        first = fire(r)
        assert held_by(r) == [32]
        (restarted,) = r.last_of(fx.ScheduleTimer)
        assert restarted.fire_at == add_working_hours(first.fire_at, 8, r.defn.calendar)
        assert r.pending()[0].due_at == restarted.fire_at  # the manager's to-do is due then
        fire(r)
        assert [n.user_ids for n in r.last_of(fx.Notify)] == [(32,)]
        assert r.last_of(fx.ScheduleTimer) == []  # the last rung: nothing more is scheduled
        assert held_by(r) == [32]

    def test_climb_reminds_then_goes_to_the_manager_then_the_managers_manager(self):
        r = flow("climb", levels=2, hours=4, assignees=[{"kind": "users", "user_ids": [30]}])
        r.directory = CHAIN
        r.do(Start(initiator_id=1))
        moments = [fire(r).fire_at]
        assert [n.user_ids for n in r.last_of(fx.Notify)] == [(30,)] and held_by(r) == [30]
        moments.append(fire(r).fire_at)
        assert held_by(r) == [32]
        moments.append(fire(r).fire_at)
        assert held_by(r) == [20]
        moments.append(fire(r).fire_at)
        assert [n.user_ids for n in r.last_of(fx.Notify)] == [(20,)]
        assert r.last_of(fx.ScheduleTimer) == []
        # every rung waited the full limit again, counted from the previous one
        for before, after in zip(moments, moments[1:], strict=False):
            assert after == add_working_hours(before, 4, r.defn.calendar)
        outcomes = [t.outcome for t in r.state.tasks if t.status == "done"]
        assert outcomes == ["escalated", "escalated"]
        steps = [e.data.get("does") for e in r.effects if isinstance(e, fx.RecordEvent)
                 and e.type == "flow.timed_out"]
        assert steps == ["remind", "escalate", "escalate", "remind"]

    def test_climbing_past_the_top_of_the_chain_reaches_an_admin_once(self):
        r = flow("climb", levels=3, assignees=[{"kind": "users", "user_ids": [30]}])
        r.directory = CHAIN
        r.do(Start(initiator_id=1))
        holders = []
        for _ in range(4):
            fire(r)
            holders.append(held_by(r))
        assert holders == [[30], [32], [20], [99]]
        fire(r)  # the admin has no manager: the to-do stays with them
        assert held_by(r) == [99]

    def test_every_holder_of_an_all_of_node_climbs_their_own_chain(self):
        r = flow("escalate", mode="all_of", assignees=[{"kind": "users", "user_ids": [30, 10]}])
        r.directory = StaticDirectory(roles={"admin": (99,)}, managers={30: 32, 10: 20})
        r.do(Start(initiator_id=1))
        fire(r)
        assert held_by(r) == [20, 32]

    def test_send_back_on_timeout_returns_to_the_previous_step(self):
        r = Runner(two_step_flow({"hours": 8, "on_timeout": "send_back"}))
        r.do(Start(initiator_id=1))
        from engine.flows.events import CompleteTask

        r.do(CompleteTask(actor_id=30, task_id=r.todo("pack", 30).id))
        assert held_by(r) == [40]
        fire(r)
        assert r.state.active_node_keys() == ["pack"]
        assert [t.outcome for t in r.state.tasks if t.node_key == "invoice"] == ["sent_back"]
        sent = [e for e in r.last_of(fx.RecordEvent) if e.type == "flow.sent_back"]
        assert sent[0].data["to"] == "pack" and sent[0].note == "flow.timed_out"

    def test_send_back_on_the_first_step_goes_to_the_initiator(self):
        r = flow("send_back", assignees=[{"kind": "users", "user_ids": [30]}])
        r.do(Start(initiator_id=1))
        fire(r)
        assert r.state.status == "sent_back"
        assert [(t.kind, t.assignee_id) for t in r.pending()] == [("resubmit", 1)]

    def test_a_decision_before_the_next_rung_stops_the_ladder(self):
        r = flow("climb", levels=2, assignees=[{"kind": "users", "user_ids": [30]}])
        r.directory = CHAIN
        r.do(Start(initiator_id=1))
        fire(r)
        timer = r.last_of(fx.ScheduleTimer)[0]
        from engine.flows.events import CompleteTask

        r.do(CompleteTask(actor_id=30, task_id=r.todo("n", 30).id))
        assert r.state.status == "completed"
        assert [c.timer_dedupe_key for c in r.last_of(fx.CancelTimer)] == [timer.dedupe_key]


def two_step_flow(time_limit: dict) -> FlowDefinition:
    """start -> pack (warehouse 30) -> invoice (finance 40, with the time limit) -> end."""
    return load_definition(
        {
            "key": "two_steps",
            "nodes": [
                {"type": "start", "key": "start"},
                {"type": "task", "key": "pack", "assignees": [{"kind": "users", "user_ids": [30]}]},
                {"type": "task", "key": "invoice", "assignees": [{"kind": "role", "role": "finance"}],
                 "time_limit": time_limit},
                {"type": "end", "key": "end"},
            ],
            "edges": [
                {"key": "e1", "source": "start", "target": "pack"},
                {"key": "e2", "source": "pack", "target": "invoice"},
                {"key": "e3", "source": "invoice", "target": "end"},
            ],
        }
    )
