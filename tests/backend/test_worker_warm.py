"""The worker runner warms a waking job (due_wake.DueWake.warm: the translation catalogues) before
it claims partitions or runs it, so a process's first due batch does not load them inside its
transaction (issue 15: a new worker's first batch took seconds of CPU under load)."""

from __future__ import annotations

import threading

from backend import i18n
from backend.rules.due_wake import DueWake
from backend.worker import runner


class _Wake:
    def __init__(self, calls: list[str], stop: threading.Event) -> None:
        self.calls, self.stop_event = calls, stop

    def warm(self) -> None:
        self.calls.append("warm")

    def is_due(self) -> bool:
        return True

    def seconds_until(self) -> float:
        return 0.0

    def start(self, engine, alarm) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        pass


def test_a_waking_job_is_warmed_before_it_first_runs(engine):
    calls: list[str] = []
    stop = threading.Event()
    wake = _Wake(calls, stop)

    def job(engine, now):
        calls.append("run")
        stop.set()
        return 0

    runner.run_forever(engine, [runner.Job("rules_due", job, 1, wake=wake)], stop, tick_seconds=0.01)
    assert calls[:3] == ["warm", "start", "run"]


def test_the_due_jobs_warm_up_loads_every_catalogue():
    i18n.translations.cache_clear()
    DueWake().warm()
    assert i18n.translations.cache_info().currsize == len(i18n.SUPPORTED)
