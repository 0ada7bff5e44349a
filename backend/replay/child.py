"""The second process of a what-if replay: the published versions replayed beside the drafts.

Started fresh (`python -c`, an exec, see `service.replay_both`), never forked: the worker that asks
runs other threads (job lanes, database pools, logging), and a forked child inherits every lock
one of them held at that moment, held for ever. So this module imports only the pure replay
(`engine.replay`, which brings pydantic and SQLAlchemy's expression language, never a connection)
and the standard library, and receives everything it replays on its socket.

Protocol on the socket (multiprocessing.connection framing, pickled tuples):
- in: one job, a dict with the `engine.replay.rules.replay` arguments and a `deadline`
  (`time.monotonic()`, the same clock in every process of the machine);
- out: ("progress", orders done) every `PROGRESS_EVERY` orders, then ("ok", ReplayResult) or
  ("error", text).
A byte on the stop pipe (or its closing) stops the replay; the partial result is still answered.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from engine.replay.rules import replay

# what the parent runs: its own sys.path, then this module (argv: sys.path as JSON, socket fd, stop fd)
BOOT = "import json, sys; sys.path[:] = json.loads(sys.argv[1]); from backend.replay.child import main; " \
       "main(int(sys.argv[2]), int(sys.argv[3]))"


def command(executable: str, path: list[str], conn_fd: int, stop_fd: int) -> list[str]:
    return [executable, "-c", BOOT, json.dumps([p for p in path if p]), str(conn_fd), str(stop_fd)]


class _Watch:
    """The replay's progress callback: tells the parent, stops on its word or at the deadline."""

    def __init__(self, conn: Connection, stop_fd: int, deadline: float):
        self.conn, self.stop_fd, self.deadline = conn, stop_fd, deadline

    def __call__(self, done: int) -> bool:
        self.conn.send(("progress", done))
        if select.select([self.stop_fd], [], [], 0)[0]:
            return True
        return time.monotonic() > self.deadline


def run(conn: Connection, stop_fd: int) -> None:
    try:
        job: dict[str, Any] = conn.recv()
        deadline = job.pop("deadline")
        conn.send(("ok", replay(**job, progress=_Watch(conn, stop_fd, deadline))))
    except BaseException as exc:  # noqa: BLE001 - the parent replays in-process instead
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:500]))


def main(conn_fd: int, stop_fd: int) -> None:
    conn = Connection(conn_fd)
    try:
        run(conn, stop_fd)
    except OSError:
        pass  # the parent went away (gave up on us): nothing to answer
    finally:
        conn.close()
        os.close(stop_fd)
    sys.exit(0)
