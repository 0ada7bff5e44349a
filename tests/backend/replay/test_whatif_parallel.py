"""whatif3: the published versions and the drafts replayed at once in two processes give the same
answer as two replays one after the other; progress counts both; a stop stops both."""

from __future__ import annotations

import time

from backend.replay import service
from engine.replay.diff import compare
from engine.replay.rules import replay
from tests.engine.replay.test_replay_due import CAL, CATALOGUE, NOW, START, history, rules

W = service.Window(START, NOW)


def _sequential(orders):
    kwargs = {"calendar": CAL, "start": START, "end": NOW}
    return replay(rules(0), orders, CATALOGUE, **kwargs), replay(rules(1), orders, CATALOGUE, **kwargs)


def test_two_processes_give_the_same_diff_as_one_after_the_other():
    orders = history(500, seed=5)
    seen = []
    before, after = service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                        max_evaluations=10**7, deadline=time.monotonic() + 600,
                                        progress=lambda done: seen.append(done) and False)
    old_before, old_after = _sequential(orders)
    assert not before.truncated and not after.truncated and before.orders == after.orders == 500
    for key in old_before.runs:
        assert before.runs[key].firings == old_before.runs[key].firings
        assert after.runs[key].firings == old_after.runs[key].firings
    assert compare(before, after) == compare(old_before, old_after)
    assert seen and max(seen) <= 1000 and seen == sorted(seen)


def test_a_stop_stops_both_versions():
    orders = history(900, seed=6)
    before, after = service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                        max_evaluations=10**7, deadline=time.monotonic() + 600,
                                        progress=lambda done: True)
    assert after.truncated and after.orders < 900
    assert before.truncated and before.orders < 900


def test_a_second_process_that_fails_is_replaced_by_a_replay_here(monkeypatch):
    def broken(conn, *args):
        conn.send(("error", "boom"))
        conn.close()

    monkeypatch.setattr(service, "_child_replay", broken)
    orders = history(200, seed=7)
    before, after = service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                        max_evaluations=10**7, deadline=time.monotonic() + 600)
    old_before, old_after = _sequential(orders)
    assert compare(before, after) == compare(old_before, old_after)
