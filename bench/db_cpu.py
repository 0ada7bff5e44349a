"""CPU seconds the database spent on a piece of work: every backend and parallel worker of one
database, read from /proc (PostgreSQL on the same machine). Wall time on a shared, loaded machine
measures the run queue; this says what the queries cost (bench/stage_visits.py, bench/report_query.py)."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

TICK = os.sysconf("SC_CLK_TCK")


class DatabaseCpu:
    """CPU seconds of every process serving one database (backends and parallel workers), sampled
    from /proc: per pid the last value seen, so a worker that exits keeps what it used until the
    last sample (up to 50 ms of it may be missed)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.seen, self.first = engine, {}, {}
        self.stop = threading.Event()
        # autocommit: in a transaction pg_stat_activity is a snapshot and a backend or parallel
        # worker started later would never be seen
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.name = self.conn.exec_driver_sql("select current_database()").scalar_one()

    def _sample(self) -> None:
        pids = self.conn.exec_driver_sql(
            f"select pid from pg_stat_activity where datname = '{self.name}' and pid <> pg_backend_pid()").scalars().all()
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            self.seen[pid] = cpu

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()

    @contextmanager
    def measuring(self):
        self.seen, self.first = {}, {}
        self._sample()  # the backends there before the run: count from their CPU now
        self.first = dict(self.seen)
        thread = threading.Thread(target=self._loop, daemon=True)
        self.stop.clear()
        thread.start()
        result: dict[str, float] = {}
        try:
            yield result
        finally:
            self.stop.set()
            thread.join()
            self._sample()
            result["db_cpu"] = sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.seen.items())


