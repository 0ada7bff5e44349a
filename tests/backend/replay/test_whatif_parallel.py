"""whatif3: the published versions and the drafts replayed at once in two processes give the same
answer as two replays one after the other; progress counts both; a stop stops both."""

from __future__ import annotations

import logging
import sys
import threading
import time

import pytest

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


def _fails(code):
    """A second process that reads its job, then answers with `code` (the real child's socket protocol)."""
    def command(conn_fd, stop_fd):
        return [sys.executable, "-c", "import sys, time\nfrom multiprocessing.connection import Connection\n"
                f"c = Connection(int(sys.argv[1])); c.recv()\n{code}", str(conn_fd)]
    return command


@pytest.mark.parametrize("code", ["c.send(('error', 'boom'))", "sys.exit(3)"], ids=["answers_error", "dies"])
def test_a_second_process_that_fails_is_replaced_by_a_replay_here(monkeypatch, caplog, code):
    monkeypatch.setattr(service, "_child_command", _fails(code))
    orders = history(200, seed=7)
    with caplog.at_level(logging.WARNING, logger="gendan.whatif"):
        before, after = service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                            max_evaluations=10**7, deadline=time.monotonic() + 600)
    old_before, old_after = _sequential(orders)
    assert compare(before, after) == compare(old_before, old_after)
    assert [r.message for r in caplog.records if "replaying the published versions here" in r.message]


def test_a_second_process_that_cannot_start_is_replaced_by_a_replay_here(monkeypatch, caplog):
    monkeypatch.setattr(service, "_child_command", lambda conn_fd, stop_fd: ["/nonexistent/python"])
    orders = history(200, seed=10)
    with caplog.at_level(logging.WARNING, logger="gendan.whatif"):
        before, after = service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                            max_evaluations=10**7, deadline=time.monotonic() + 600)
    old_before, old_after = _sequential(orders)
    assert compare(before, after) == compare(old_before, old_after)
    assert [r.message for r in caplog.records if "could not start" in r.message]


def test_a_second_process_that_hangs_is_given_up_at_the_deadline(monkeypatch, caplog):
    monkeypatch.setattr(service, "_child_command", _fails("time.sleep(600)"))
    orders = history(300, seed=8)
    with caplog.at_level(logging.WARNING, logger="gendan.whatif"):
        before, after = service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                            max_evaluations=10**7, deadline=time.monotonic() + 2)
    assert before.orders <= 300 and after.orders <= 300  # the fallback, stopped by the passed deadline
    assert [r.message for r in caplog.records if "no answer by the deadline" in r.message]


def test_the_second_process_completes_while_another_thread_holds_the_logging_lock(caplog):
    """A worker's job thread asks for the replay while another thread (a log call, a handler being
    configured) holds logging's module lock. A fork would copy that lock held: Python's at-fork hook
    makes the fork wait for it, and any other lock held at that moment stays held in the child for
    ever. The second process is started by exec, so it neither waits nor inherits: it answers, and
    the replay here never falls back (which would log a warning, after the lock is let go)."""
    orders = history(1_000, seed=9)
    holding, release = threading.Event(), threading.Event()
    held_until_released = []

    def hold():
        logging._acquireLock()
        try:
            holding.set()
            held_until_released.append(release.wait(120))  # a generous bound: never in a passing run
        finally:
            logging._releaseLock()

    answer = []

    def job():
        answer.append(service.replay_both(rules(0), rules(1), orders, CATALOGUE, calendar=CAL, w=W,
                                          max_evaluations=10**7, deadline=time.monotonic() + 600))

    # the level is set before the lock is taken: setting it takes the lock too
    with caplog.at_level(logging.WARNING, logger="gendan.whatif"):
        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert holding.wait(60)
        runner = threading.Thread(target=job, name="lane-whatif")
        runner.start()
        runner.join(300)
        still_held = holder.is_alive()
        release.set()
        holder.join(60)
    assert answer and still_held and held_until_released == [True]  # done while the lock was held
    before, after = answer[0]
    old_before, old_after = _sequential(orders)
    assert before.orders == after.orders == 1_000 and not before.truncated
    assert compare(before, after) == compare(old_before, old_after)
    assert not [r for r in caplog.records if r.name == "gendan.whatif"]  # the child's answer, not the fallback


def test_the_second_process_imports_only_the_pure_replay():
    """What the child imports before its job: engine, the standard library and what engine is made
    of (pydantic, SQLAlchemy's core), never the application, its ORM, driver or web stack."""
    import json
    import subprocess
    probe = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); import backend.replay.child; "
             "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe, json.dumps([p for p in sys.path if p])],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    modules = json.loads(out)
    assert "engine.replay.rules" in modules
    ours = {m for m in modules if m.split(".")[0] == "backend"}
    assert ours == {"backend", "backend.replay", "backend.replay.child"}
    # engine.facts brings SQLAlchemy's expression language (the SQL rendering of facts), not its ORM
    assert "sqlalchemy.orm" not in modules
    assert not {m for m in modules
                if m.split(".")[0] in ("sqlmodel", "fastapi", "starlette", "psycopg", "jinja2", "httpx", "uvicorn")}
