"""The in-process worker: runs the app's jobs on an interval inside `gendan serve`.

Jobs are plain functions `job(engine, now) -> int` (how much they did). The app's assembly
(backend/pipeline_assembly.py `build_jobs`) lists them once, in one place; `create_app` keeps the
list on `app.state.jobs`, and `gendan worker` runs the same list in its own process for scale.
Jobs must be safe to run in several processes at once: they claim rows with leases / SKIP LOCKED
and record results under unique keys. A job marked `partitioned` works on the order partitions
this worker holds (backend/worker/partitions.py): the runner's heartbeat thread claims and renews
them for every such job, every third of the lease, whatever the jobs are doing (a minute-long scan
in the loop, a sleeping due job), and runs a job at once when it gained partitions (a dead
worker's share); the job only asks `partitions.held(engine, job)` and fences its commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from backend.clock import utcnow
from backend.settings import get_settings
from backend.worker import partitions

log = logging.getLogger("gendan.worker")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[..., int]
    every_seconds: float
    # when set (backend/rules/due_wake.py), the job runs when `wake.is_due()` instead of every
    # `every_seconds`, and the loop sleeps until `wake.seconds_until()` or its alarm
    wake: Any = None
    # works on the order partitions this worker holds: the heartbeat claims them (run_forever)
    partitioned: bool = False
    # interval jobs of one lane run one after another in one thread; lanes run side by side, so a
    # long job (a what-if replay, a retrain, a 100,000-row import) never holds back the short ones
    # of another lane (the outbox, flow timers, the minute scan): see LANES
    lane: str = "main"

    def __post_init__(self) -> None:
        if self.lane not in LANES:
            raise ValueError(f"job {self.name}: unknown lane {self.lane!r} (one of {LANES})")


# "main": short, frequent jobs whose delay a user notices (messages, timers, the scan);
# "data": imports, connector pulls and contract OCR (seconds to minutes, a user waits for them);
# "analysis": what-if replays, model training, scoring sweeps, report deliveries (minutes, nobody
# waits on the second).
LANES = ("main", "data", "analysis")


def run_due(engine: Engine, jobs: Sequence[Job], last_run: dict[str, float], *,
            monotonic: float | None = None, kicked: set[str] | None = None) -> dict[str, int]:
    """Run every job whose interval has passed (or that `kicked` names: it gained partitions); a
    failing job is logged and does not stop the others."""
    now_mono = monotonic if monotonic is not None else time.monotonic()
    done: dict[str, int] = {}
    for job in jobs:
        if job.wake is not None:
            if not job.wake.is_due():
                continue
        elif now_mono - last_run.get(job.name, -1e18) < job.every_seconds and job.name not in (kicked or ()):
            continue
        if kicked is not None:
            kicked.discard(job.name)
        last_run[job.name] = now_mono
        try:
            done[job.name] = job.run(engine, utcnow())
        except Exception:  # a job's bug must not kill the worker loop
            log.exception("worker job %s failed", job.name)
    return done


def run_forever(engine: Engine, jobs: Sequence[Job], stop: threading.Event, tick_seconds: float = 1.0) -> None:
    """Run the jobs until `stop`: interval jobs on the tick, the "main" lane in this thread and each
    other lane in a thread of its own (a what-if replay does not hold back the outbox); each waking
    job in a thread of its own that sleeps until its wake says (a moment, a notification), so a due
    moment never waits behind a long job (the minute scan, an import batch). With partitioned jobs,
    a heartbeat thread claims their partitions first and then every third of the lease; the
    partitions are given back when `stop` ends the loop."""
    kicked: set[str] = set()
    for job in jobs:  # before claiming: a first batch loading its caches runs long inside its lease
        if stop.is_set():
            break
        if callable(warm := getattr(job.wake, "warm", None)):
            try:
                warm()
            except Exception:  # only a head start: the job loads what it needs anyway
                log.exception("worker job %s: warming up failed", job.name)
    beat = _start_heartbeat(engine, jobs, stop, kicked)
    waking = [threading.Thread(target=_run_waking, args=(engine, job, stop), name=f"gendan-{job.name}", daemon=True)
              for job in jobs if job.wake is not None]
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        if job.wake is None:
            lanes.setdefault(job.lane, []).append(job)
    own = lanes.pop("main", [])
    waking += [threading.Thread(target=_run_lane, args=(engine, lane_jobs, stop, tick_seconds, kicked),
                                name=f"gendan-lane-{lane}", daemon=True) for lane, lane_jobs in lanes.items()]
    for thread in waking:
        thread.start()
    try:
        _run_lane(engine, own, stop, tick_seconds, kicked)
    finally:
        # the main lane ended: by `stop`, or by Ctrl+C / an error raised in it (then `stop` is not set
        # yet, and each thread below would be waited for its whole join timeout, one after another)
        stop.set()
        for thread in waking:
            thread.join(10)
        if beat is not None:
            beat.join(10)
            partitions.release_worker(engine)


def _run_lane(engine: Engine, jobs: Sequence[Job], stop: threading.Event, tick_seconds: float,
              kicked: set[str]) -> None:
    last: dict[str, float] = {}
    while not stop.is_set():
        run_due(engine, jobs, last, kicked=kicked)
        stop.wait(tick_seconds)


def _start_heartbeat(engine: Engine, jobs: Sequence[Job], stop: threading.Event,
                     kicked: set[str]) -> threading.Thread | None:
    """Claim the partitioned jobs' partitions now (so their first run has them), then keep them in
    a thread of its own. Gained partitions run their job at once: a waking job through its wake,
    an interval job at the loop's next tick."""
    names = [job.name for job in jobs if job.partitioned]
    if not names:
        return None
    worker = partitions.worker_for(engine)
    by_name = {job.name: job for job in jobs}

    def beat() -> None:
        try:
            gained = worker.beat(engine, names)
        except Exception:  # the database is away: the leases run out, the others take over
            log.exception("worker heartbeat failed")
            return
        for name in gained:
            if by_name[name].wake is not None:
                by_name[name].wake.heard(0.0)  # run now
            else:
                kicked.add(name)

    def loop() -> None:
        while not stop.wait(get_settings().worker_lease_seconds / 3):
            beat()

    beat()
    thread = threading.Thread(target=loop, name="gendan-heartbeat", daemon=True)
    thread.start()
    return thread


def _run_waking(engine: Engine, job: Job, stop: threading.Event) -> None:
    alarm = threading.Event()
    job.wake.start(engine, alarm)
    try:
        while not stop.is_set():
            run_due(engine, [job], {})
            alarm.wait(min(1.0, job.wake.seconds_until()))  # at most a second: `stop` is checked
            alarm.clear()
    finally:
        job.wake.stop()


def attach_worker(app: FastAPI) -> None:
    """Start the worker loop over `app.state.jobs` in a thread for the app's lifetime."""
    stop = threading.Event()
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        thread = threading.Thread(target=run_forever, args=(a.state.engine, a.state.jobs, stop),
                                  name="gendan-worker", daemon=True)
        thread.start()
        async with previous(a) as state:
            yield state
        stop.set()
        await asyncio.to_thread(thread.join, 10)

    app.router.lifespan_context = lifespan
