"""Interval jobs run in lanes: a long job (a what-if replay, a retrain, a big import) does not hold
back the short jobs of the main lane (the outbox, flow timers, the scan)."""

from __future__ import annotations

import threading
import time

import pytest

from backend.pipeline_assembly import build_jobs
from backend.worker.runner import LANES, Job, run_forever

BOUND = 120  # seconds: a generous bound on a loaded machine, never a timing assertion


def test_long_jobs_are_off_the_main_lane(tmp_path):
    jobs = {job.name: job for job in build_jobs(upload_dir=tmp_path)}
    assert {job.lane for job in jobs.values()} <= set(LANES)
    for name in ("whatif.run_queued", "foresight.train_due", "foresight.score_open_orders", "order_scores",
                 "ingest.process_imports", "connectors.run_due", "ocr.read_contracts", "reports.send_schedules"):
        assert jobs[name].lane != "main", name
    for name in ("notify.deliver_outbox", "flow_timers", "rules_due_build", "notify.dispatch_notifications"):
        assert jobs[name].lane == "main", name


def test_an_unknown_lane_is_refused():
    with pytest.raises(ValueError, match="unknown lane"):
        Job("x", lambda engine, now: 0, 1, lane="fast")


def test_a_blocked_analysis_job_does_not_stop_the_main_lane():
    stop, release, started = threading.Event(), threading.Event(), threading.Event()
    main_runs: list[float] = []
    data_runs: list[float] = []

    def long_job(engine, now):
        started.set()
        release.wait(BOUND)  # a what-if replay that takes a long time
        return 1

    def outbox(engine, now):
        if started.is_set():
            main_runs.append(time.monotonic())
        return 0

    def imports(engine, now):
        if started.is_set():
            data_runs.append(time.monotonic())
        return 0

    jobs = [Job("whatif", long_job, 0.01, lane="analysis"), Job("outbox", outbox, 0.01),
            Job("imports", imports, 0.01, lane="data")]
    loop = threading.Thread(target=run_forever, args=(None, jobs, stop, 0.01), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + BOUND
        while (len(main_runs) < 3 or len(data_runs) < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not release.is_set()  # the long job is still running ...
        assert len(main_runs) >= 3 and len(data_runs) >= 3  # ... and the other lanes went on
    finally:
        release.set()
        stop.set()
        loop.join(BOUND)
    assert not loop.is_alive()


def test_ctrl_c_in_the_main_lane_stops_every_lane_and_waking_job():
    """`gendan worker` and Ctrl+C: the KeyboardInterrupt rises in the main lane; run_forever then
    sets `stop` itself, so the other lanes end at once. (It joined each of them for its whole
    timeout, one after another, with `stop` still clear: `gendan worker` took minutes to stop.)"""
    stop = threading.Event()
    runs = {"analysis": 0, "data": 0}

    def interrupted(engine, now):
        if runs["analysis"] and runs["data"]:  # the other lanes have started
            raise KeyboardInterrupt
        return 0

    def count(lane):
        def job(engine, now):
            runs[lane] += 1
            return 0
        return job

    jobs = [Job("outbox", interrupted, 0.01), Job("whatif", count("analysis"), 0.01, lane="analysis"),
            Job("imports", count("data"), 0.01, lane="data")]
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        run_forever(None, jobs, stop, 0.01)
    assert stop.is_set()
    lanes = [t for t in set(threading.enumerate()) - before if t.name.startswith("gendan-")]
    assert not lanes, lanes  # every lane thread has ended (joined), none left waiting for a timeout
