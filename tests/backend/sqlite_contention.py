"""A second SQLite writer that meets every transaction a piece of code opens, for the tests of the
"database is locked" failures (backend/db.py: transactions that will write begin IMMEDIATE).

Why it is built this way: busy_timeout makes SQLite wait for a lock only when the connection holds
no transaction yet. A deferred transaction that has read (holding a read snapshot) and then writes
must upgrade its lock; when another connection holds the write lock, or committed since the
snapshot, SQLite answers "database is locked" at once, without waiting. So a test has to place a
writer exactly there, not rely on the two happening to overlap.

`Contender(path)` is a raw sqlite3 connection on the same file, on a thread of its own. While
`contend(engine)` is active, each transaction that the calling thread begins on `engine` (its BEGIN,
which backend/db.py sends itself) first waits until the contender holds the write lock with a row
written (BEGIN IMMEDIATE + INSERT); the
contender commits once that transaction has either asked for the write lock (BEGIN IMMEDIATE, or a
first statement that writes: both wait in the busy handler) or finished a read (a deferred
transaction: its later write then finds a newer commit than its snapshot and fails at once).
No step is timed: each waits for the other's event, with a generous bound that only a hang reaches.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: a bound on a hang, never on ordinary speed
WAIT_SECONDS = 60


class Contender:
    def __init__(self, path: str) -> None:
        self.path = path
        self.holds = 0  # how many transactions of the code under test met the write lock held
        self._take = threading.Semaphore(0)
        self._held = threading.Event()
        self._release = threading.Event()
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sqlite-contender", daemon=True)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=WAIT_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS contention_probe (n INTEGER)")
            while True:
                self._take.acquire()
                if self._stop:
                    return
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO contention_probe (n) VALUES (?)", (self.holds,))
                self.holds += 1
                self._held.set()
                if not self._release.wait(WAIT_SECONDS):
                    db.execute("ROLLBACK")
                    raise TimeoutError("the code under test never reached its transaction's first statement")
                self._release.clear()
                db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            self._error = exc
            self._held.set()
        finally:
            db.close()

    def hold(self) -> None:
        """Take the write lock (and write a row) now; return once it is held."""
        self._held.clear()
        self._take.release()
        if not self._held.wait(WAIT_SECONDS) or self._error is not None:
            raise AssertionError(f"the contender could not take the write lock: {self._error!r}")

    def let_go(self) -> None:
        self._release.set()

    @contextlib.contextmanager
    def contend(self, engine: Engine) -> Iterator[Contender]:
        """Meet every transaction this thread begins on `engine` with the write lock held elsewhere."""
        me = threading.get_ident()
        state = {"open": False}

        def before(conn, cursor, statement, parameters, context, executemany) -> None:
            if threading.get_ident() != me:
                return
            words = statement.lstrip().upper()
            if words.startswith("BEGIN"):  # backend/db.py begins every SQLite transaction itself
                self.hold()
                state["open"] = True
            if state["open"] and (words.startswith("BEGIN IMMEDIATE") or not (_neutral(words) or _reads(words))):
                state["open"] = False
                self.let_go()

        def after(conn, cursor, statement, parameters, context, executemany) -> None:
            if threading.get_ident() == me and state["open"] and _reads(statement.lstrip().upper()):
                state["open"] = False
                self.let_go()

        def ended(conn) -> None:  # a transaction that ran no statement: nothing to meet
            if threading.get_ident() == me and state["open"]:
                state["open"] = False
                self.let_go()

        listeners = (("before_cursor_execute", before), ("after_cursor_execute", after),
                     ("commit", ended), ("rollback", ended))
        for name, fn in listeners:
            event.listen(engine, name, fn, insert=True)
        self._thread.start()
        try:
            yield self
        finally:
            for name, fn in listeners:
                event.remove(engine, name, fn)
            self._stop = True
            self._release.set()
            self._take.release()
            self._thread.join(WAIT_SECONDS)
            if self._error is not None:
                raise self._error


def _neutral(words: str) -> bool:
    """Statements that take no lock of their own (a deferred BEGIN, savepoints)."""
    return words.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))


def _reads(words: str) -> bool:
    return words.startswith(("SELECT", "WITH", "PRAGMA"))
