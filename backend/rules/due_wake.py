"""When the worker runs the `rules_due` job: at the next moment in the index, or when an order
change writes an earlier one (PostgreSQL LISTEN/NOTIFY), not every second.

Why this exists: polling `rule_due` each second is 60 index probes a minute per worker, whatever
is due, and a moment still waits for the next tick. Instead the job reads `min(due_at)` after each
run and the worker loop (backend/worker/runner.py) sleeps until then. A change that writes a
moment earlier than that calls `due_index.announce` in its transaction (`pg_notify`, delivered at
commit, dropped on rollback); this process's listener thread hears it and wakes the loop.

Moments further away than `due_index.ANNOUNCE_HORIZON` are not announced (most changes: a stage
entered today is due tomorrow); instead, while listening, the job probes the index every
`PROBE_SECONDS` (less than the horizon), so such a moment is read long before it falls due. When
the listener's connection is down, and always on SQLite (no NOTIFY between processes), the job
polls each second as before; a (re)connected listener asks for a run at once, for what was
written while nobody listened.

Several workers (backend/worker/partitions.py): a run fires and probes only the partitions of the
order book this worker holds (`partitions.held`). Claiming and renewing them is the worker
runner's heartbeat, not this job's: the job sleeps until its next moment as with one worker, and
the heartbeat wakes it (`heard(0)`) when it gained partitions, whose moments it has not read yet.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime

import psycopg
from sqlalchemy.engine import Engine

from backend.rules import due_index
from backend.worker import partitions
from backend.worker.lease import LeaseLost

log = logging.getLogger("gendan.rules")
POLL_SECONDS = 1.0  # without a listener (SQLite, connection lost): probe the index each second
PROBE_SECONDS = 60.0  # with one: a probe a minute catches moments announced by no one
RETRY_SECONDS = 0.25  # due rows left after a run are locked by another worker: look again soon
FAILED_RETRY_SECONDS = 1.0  # a run failed or lost a partition: run again then, not at the next probe
assert PROBE_SECONDS < due_index.ANNOUNCE_HORIZON.total_seconds()


class DueWake:
    """The `rules_due` job and when it should run next (one per worker process).

    `run(engine, now)` is the job; `seconds_until()` and `is_due()` are what the runner asks;
    `start(engine, alarm)` begins listening (PostgreSQL) and sets `alarm` when a notification asks
    for an earlier run; `stop()` ends it."""

    def __init__(self, *, poll_seconds: float = POLL_SECONDS, probe_seconds: float = PROBE_SECONDS,
                 job: str | None = None) -> None:
        self.poll_seconds = poll_seconds
        self.probe_seconds = probe_seconds
        self.job = job  # the partitioned job's name: fire only in the partitions this worker holds for it
        self.listening = threading.Event()
        self._lock = threading.Lock()
        self._next: float | None = 0.0  # epoch seconds of the next known moment (0: run at once)
        self._heard: float | None = None  # announced while a run was reading the index
        self._running = False
        self._last_run = -math.inf  # monotonic
        self._alarm: threading.Event | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.wakeups = 0  # notifications heard (tests, benchmarks)
        self.pace = due_index.Pace()  # the batch size, adapted to how long batches take here

    # --- what the runner asks ---------------------------------------------------------------

    def seconds_until(self) -> float:
        with self._lock:
            upcoming = self._next
        poll = self.probe_seconds if self.listening.is_set() else self.poll_seconds
        wait = self._last_run + poll - time.monotonic()
        if upcoming is not None:
            wait = min(wait, upcoming - time.time())
        return max(0.0, wait)

    def is_due(self) -> bool:
        return self.seconds_until() <= 0.0

    # --- the job ----------------------------------------------------------------------------

    def run(self, engine: Engine, now: datetime) -> int:
        """Fire what is due, then read the next moment (announcements heard meanwhile count too);
        when partitioned, in the partitions this worker holds."""
        with self._lock:
            self._running, self._heard = True, None
        self._last_run = time.monotonic()
        try:
            claim = partitions.held(engine, self.job) if self.job is not None else None
            if claim is not None and not claim.held:  # more workers than partitions: nothing is ours
                fired, upcoming = 0, None
            else:
                if claim is not None:  # a batch commits well inside the lease (its idle timeout too)
                    self.pace.seconds = min(due_index.BATCH_SECONDS, claim.ttl.total_seconds() / 3)
                fired = due_index.fire_due(engine, now, claim=claim, pace=self.pace)
                upcoming = due_index.next_due(engine, claim)
        except LeaseLost as lost:  # another worker took a partition mid-way: its work is theirs now
            log.warning("rules_due: %s taken over by another worker", lost)
            with self._lock:  # what is left in the partitions still held: look again in a second
                self._running, self._next = False, time.time() + FAILED_RETRY_SECONDS
            return 0
        except BaseException:
            with self._lock:  # a failed batch (a lost connection, the server's idle timeout): retry soon
                self._running, self._next = False, time.time() + FAILED_RETRY_SECONDS
            raise
        at = upcoming.timestamp() if upcoming is not None else None
        if at is not None and at <= time.time() and not fired:
            at = time.time() + RETRY_SECONDS  # due but not ours to take (SKIP LOCKED): no busy loop
        with self._lock:
            if self._heard is not None:
                at = self._heard if at is None else min(at, self._heard)
            self._next, self._running, self._heard = at, False, None
        return fired

    # --- the listener (PostgreSQL) ----------------------------------------------------------

    def warm(self) -> None:
        """Before the worker claims anything (runner.run_forever): load what the first firing
        would load inside its batch."""
        due_index.warm()

    def start(self, engine: Engine, alarm: threading.Event) -> None:
        self._alarm = alarm
        if engine.dialect.name != "postgresql" or self._thread is not None:
            return
        dsn = engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, args=(dsn,), name="gendan-due-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.listening.clear()

    def heard(self, at: float) -> None:
        """A moment at `at` (epoch seconds) was written: run then, if that is earlier."""
        with self._lock:
            if self._running:
                self._heard = at if self._heard is None else min(self._heard, at)
            if self._next is None or at < self._next:
                self._next = at
        if self._alarm is not None:
            self._alarm.set()

    def _listen(self, dsn: str) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{due_index.CHANNEL}"')
                    self.listening.set()
                    self.heard(0.0)  # moments written while nobody listened: probe now
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._on_note(note.payload)
            except psycopg.Error:
                log.exception("due-time listener lost its PostgreSQL connection; polling until it is back")
            self.listening.clear()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10)

    def _on_note(self, payload: str) -> None:
        try:
            at = float(payload)
        except ValueError:
            log.warning("ignoring malformed due-time notification %r", payload[:100])
            return
        if math.isfinite(at):
            self.wakeups += 1
            self.heard(at)


__all__ = ["DueWake", "POLL_SECONDS", "PROBE_SECONDS"]
