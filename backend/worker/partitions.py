"""Partitions: order-keyed work split over any number of `gendan worker` processes (issue 15).

Orders fall into P partitions by `order_id % P` (`worker_partitions`, 16). A job that works per
order (the due batches `rules_due`, the scan and reconciliation `rules_scan`, the overdue to-dos
`rules_overdue_todos`) holds a lease per (job, partition) — a `worker_partition` row with holder,
token and expiry — and touches only the orders of the partitions it holds:

- **Live workers.** Every worker writes its `worker_heartbeat` row at each claim; a worker whose
  row is older than the lease is gone. The live workers, in the order they started, split P
  fairly: the first P % n hold ceil(P / n), the others floor(P / n) (3 workers: 6 + 5 + 5).
- **Claiming.** The worker runner's heartbeat (backend/worker/runner.py), every third of the
  lease, renews the leases this worker holds, gives back (expires) those above its share, so a
  worker that joins finds partitions free, and takes free or expired ones up to its share. Taking
  is a compare-and-set on the expired row (`expires_at < now`), so two workers never both get one;
  each take increments the row's `token`. A job only asks `held(bind, job)`: which partitions
  this worker holds now (outside the runner — tests, the CLI — that claims once, on the spot).
- **Fencing.** Inside every transaction of the job, right before its commit, `fence` renews the
  held leases and checks their tokens: a worker that lost one (it froze past the lease and another
  took it over) rolls back and writes nothing.
- **Takeover.** A SIGKILLed or frozen worker stops renewing: its leases and heartbeat run out after
  `worker_lease_seconds` (3 s) and the others take its partitions at their next heartbeat. Faster
  for a dead process: each worker holds a session-level advisory lock (its liveness lock, keyed by
  its holder id) on a connection of its own; when the process dies its connections close, the
  server drops the lock at once, and the others' next heartbeat counts it gone and takes its
  partitions without waiting for the lease (a frozen process keeps its connections: it waits for
  the lease, as before). Only a holder once seen holding its lock counts as gone when it goes: a
  worker that takes none (an older version; a claim made on a caller's connection, tests) waits
  for its lease. The taker's compare-and-set bumps the token, so a worker that was alive
  after all (only that connection dropped) fails its next fence and writes nothing. The
  firing's unique key (rule, order, episode) keeps exactly-once regardless; the leases keep two
  workers from doing the same batch twice.

SQLite is one worker: there every claim is all partitions, nothing is leased. Times are the wall
clock (`backend.clock.utcnow`), shared by every process, not the `now` a job is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import weakref
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, false, select, text, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel

from backend.clock import as_utc, utcnow
from backend.db import new_session
from backend.models_base import UTCDateTime
from backend.settings import get_settings
from backend.worker.lease import LeaseLost, holder_id

log = logging.getLogger("gendan.worker")
#: advisory lock namespace (the first of the two int4 keys) of the workers' liveness locks; the
#: second key is `liveness_key(holder)`
LIVENESS_CLASS = 0x47444E57  # "GDNW"


def liveness_key(holder: str) -> int:
    """The liveness lock's second key for a holder id (int4; two holders sharing one only lose the
    fast takeover between them: the lease still runs out)."""
    return zlib.crc32(holder.encode()) & 0x7FFFFFFF


class WorkerHeartbeat(SQLModel, table=True):
    __tablename__ = "worker_heartbeat"

    holder: str = Field(primary_key=True, max_length=120)
    host: str = Field(max_length=60)
    pid: int
    started_at: datetime = Field(sa_type=UTCDateTime)
    seen_at: datetime = Field(sa_type=UTCDateTime)


class WorkerPartition(SQLModel, table=True):
    __tablename__ = "worker_partition"

    job: str = Field(primary_key=True, max_length=60)
    partition: int = Field(primary_key=True)
    holder: str = Field(default="", max_length=120)
    token: int = 0
    expires_at: datetime = Field(sa_type=UTCDateTime)


@dataclass
class Claim:
    """The partitions of one job this worker holds now (`tokens`: partition → token), out of `count`.
    `everything` (SQLite, one worker): all of them, nothing leased."""

    job: str
    holder: str
    count: int
    ttl: timedelta
    tokens: dict[int, int] = field(default_factory=dict)
    everything: bool = False
    local: bool = False  # SQLite: a part of everything, filtered but not leased (nothing to fence)

    @property
    def held(self) -> list[int]:
        return list(range(self.count)) if self.everything else sorted(self.tokens)

    def where(self, order_id: ColumnElement) -> ColumnElement[bool]:
        """The SQL filter: `order_id` falls in a held partition."""
        if self.everything or len(self.tokens) >= self.count:
            return true()
        if not self.tokens:
            return false()
        return (order_id % self.count).in_(self.held)

    def only(self, parts: list[int]) -> Claim:
        """The same claim narrowed to `parts`: a pass over some of the held partitions filters and
        fences only those (on SQLite, a part of everything: filtered, not leased)."""
        if self.everything:
            if set(parts) >= set(range(self.count)):
                return self
            return Claim(self.job, self.holder, self.count, self.ttl, {p: 0 for p in parts}, local=True)
        return Claim(self.job, self.holder, self.count, self.ttl,
                     {p: self.tokens[p] for p in parts if p in self.tokens})

    def owns(self, order_id: int) -> bool:
        return self.everything or order_id % self.count in self.tokens

    def fence(self, session: Session) -> None:
        """Inside the caller's transaction, right before its commit: renew every held lease and
        check its token; if one was taken over, roll back and raise LeaseLost."""
        if self.everything or self.local or not self.tokens:
            return
        renewed = session.execute(
            update(WorkerPartition).where(WorkerPartition.job == self.job, WorkerPartition.holder == self.holder,
                                          WorkerPartition.partition.in_(self.held))
            .values(expires_at=utcnow() + self.ttl)
            .returning(WorkerPartition.partition, WorkerPartition.token)
            .execution_options(synchronize_session=False)).all()
        if dict(renewed) != self.tokens:
            session.rollback()
            lost = sorted(set(self.tokens) - {p for p, t in renewed if self.tokens.get(p) == t})
            self.tokens = {p: t for p, t in self.tokens.items() if p not in lost}
            raise LeaseLost(f"{self.job} partitions {lost}")

    def bound(self, session: Session, idle_seconds: float | None = None) -> None:
        """On PostgreSQL, end this transaction on the server if its worker freezes mid-way (idle for
        the lease, or `idle_seconds` for a job whose transactions think longer between statements)."""
        if not (self.everything or self.local) and session.get_bind().dialect.name == "postgresql":
            ms = int((idle_seconds or self.ttl.total_seconds()) * 1000)
            session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))


@dataclass
class Worker:
    """This process's identity as a worker on one database: its holder id and its claims."""

    holder: str
    started_at: datetime
    claims: dict[str, Claim] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)
    beating: set[str] = field(default_factory=set)  # the jobs the runner's heartbeat claims for
    alive: Connection | None = field(default=None, repr=False)  # holds the liveness lock (PostgreSQL)
    # holders seen holding their liveness lock: only those count as gone when it goes (a worker that
    # never takes one — an older version, a claim made on a caller's connection — waits for its lease)
    seen_locked: set[str] = field(default_factory=set)

    def stay_alive(self, bind: Engine | Connection) -> None:
        """Hold this worker's liveness lock on a connection of its own (reopened if it dropped):
        while the process lives, the lock is in `pg_locks`; when it dies, the server drops it."""
        if self.alive is not None:
            try:
                self.alive.exec_driver_sql("SELECT 1")
                return
            except Exception:  # noqa: BLE001 - the connection dropped: take the lock again on a new one
                log.warning("worker %s: its liveness connection dropped; locking again", self.holder)
                self.drop_alive()
        conn = bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.detach()  # out of the pool: closed for real when dropped, not handed to another caller
        conn.execute(text("SELECT pg_try_advisory_lock(:cls, :key)"),
                     {"cls": LIVENESS_CLASS, "key": liveness_key(self.holder)})
        self.alive = conn

    def drop_alive(self) -> None:
        """Close the liveness connection (stopping; in tests, what a SIGKILL does to it)."""
        conn, self.alive = self.alive, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def held(self, bind: Engine | Connection, job: str) -> Claim:
        """The partitions of `job` this worker holds: what the runner's heartbeat last claimed, or,
        for a job run outside the runner (tests, the CLI), a claim made now."""
        if job in self.beating:
            got = self.claims.get(job)
            if got is not None:
                return got
        return self.claim(bind, job)

    def beat(self, bind: Engine | Connection, jobs: list[str]) -> dict[str, list[int]]:
        """The runner's heartbeat: claim every partitioned job's share; the partitions gained per job
        (so the runner runs those jobs now: a dead worker's orders wait for no interval)."""
        self.beating.update(jobs)
        gained: dict[str, list[int]] = {}
        for job in jobs:
            before = set(self.claims[job].held) if job in self.claims else set()
            after = self.claim(bind, job)
            if new := sorted(set(after.held) - before):
                gained[job] = new
        return gained

    def claim(self, bind: Engine | Connection, job: str, *, count: int | None = None,
              ttl: timedelta | None = None) -> Claim:
        """Heartbeat, then renew / give back / take this job's partitions up to the fair share."""
        settings = get_settings()
        count = count or settings.worker_partitions
        ttl = ttl or timedelta(seconds=settings.worker_lease_seconds)
        previous = self.claims.get(job)
        if bind.dialect.name != "postgresql":
            self.claims[job] = Claim(job, self.holder, count, ttl, everything=True)
            return self.claims[job]
        claim = Claim(job, self.holder, count, ttl)
        if isinstance(bind, Engine):  # a worker process (the runner, `gendan worker`), not a caller's connection
            self.stay_alive(bind)
        with new_session(bind) as session:
            now = utcnow()
            alive = alive_keys(session)
            beating = heartbeat(session, self.holder, self.started_at, now, ttl)
            self.seen_locked.update(h for h in beating if liveness_key(h) in alive)
            gone = {h for h in self.seen_locked if h != self.holder and liveness_key(h) not in alive}
            live = [h for h in beating if h not in gone]
            share = fair_share(count, live, self.holder)
            _ensure_rows(session, job, count, now)
            session.commit()
            mine = dict(session.execute(
                update(WorkerPartition).where(WorkerPartition.job == job, WorkerPartition.holder == self.holder,
                                              WorkerPartition.partition < count,
                                              WorkerPartition.expires_at >= now)
                .values(expires_at=now + ttl)
                .returning(WorkerPartition.partition, WorkerPartition.token)
                .execution_options(synchronize_session=False)).all())
            session.commit()
            if len(mine) > share:  # a worker joined: give the highest ones back
                surplus = sorted(mine)[share:]
                session.execute(update(WorkerPartition).where(
                    WorkerPartition.job == job, WorkerPartition.holder == self.holder,
                    WorkerPartition.partition.in_(surplus)).values(expires_at=now - timedelta(seconds=1))
                    .execution_options(synchronize_session=False))
                session.commit()
                for p in surplus:
                    mine.pop(p)
            elif len(mine) < share:
                rows = session.execute(select(WorkerPartition.partition, WorkerPartition.holder,
                                              WorkerPartition.expires_at).where(
                    WorkerPartition.job == job, WorkerPartition.partition < count)).all()
                # free: expired, or held by a worker whose liveness lock is gone (its process died)
                dead = sorted({h for _, h, at in rows if h in gone and as_utc(at) >= now})
                free = [p for p, h, at in rows if as_utc(at) < now or h in dead]
                if dead:
                    log.info("worker %s: workers %s are gone (their liveness lock is): taking over", self.holder,
                             dead)
                random.shuffle(free)  # two workers taking at once mostly ask for different rows
                if free:
                    free_now = WorkerPartition.expires_at < now
                    if dead:
                        free_now = free_now | WorkerPartition.holder.in_(dead)
                    taken = session.execute(
                        update(WorkerPartition).where(WorkerPartition.job == job,
                                                      WorkerPartition.partition.in_(free[:share - len(mine)]),
                                                      free_now)  # re-checked under the row lock
                        .values(holder=self.holder, token=WorkerPartition.token + 1, expires_at=now + ttl)
                        .returning(WorkerPartition.partition, WorkerPartition.token)
                        .execution_options(synchronize_session=False)).all()
                    session.commit()
                    mine.update(dict(taken))
        claim.tokens = mine
        if previous is None or previous.held != claim.held:
            log.info("worker %s holds %s partitions %s of %d", self.holder, job, claim.held, count)
        self.claims[job] = claim
        return claim

    def release(self, bind: Engine | Connection) -> None:
        """Stopping: give every lease back and remove the heartbeat, so the others take over now."""
        if bind.dialect.name != "postgresql":
            return
        self.drop_alive()
        with new_session(bind) as session:
            session.execute(update(WorkerPartition).where(WorkerPartition.holder == self.holder)
                            .values(expires_at=utcnow() - timedelta(seconds=1))
                            .execution_options(synchronize_session=False))
            session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.holder == self.holder))
            session.commit()
        self.claims.clear()


def fair_share(count: int, live: list[str], holder: str) -> int:
    """This holder's share of `count` partitions among the `live` workers (in the order they
    started): the first count % n get one more than count // n, so shares differ by one at most."""
    n = max(len(live), 1)
    rank = live.index(holder) if holder in live else n - 1
    return count // n + (1 if rank < count % n else 0)


def alive_keys(session: Session) -> set[int]:
    """The liveness keys held now in this database (`liveness_key` of each running worker)."""
    return set(session.execute(text(
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND classid = CAST(:cls AS oid) "
        "AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = "
        "current_database())"), {"cls": LIVENESS_CLASS}).scalars())


def heartbeat(session: Session, holder: str, started_at: datetime, now: datetime, ttl: timedelta) -> list[str]:
    """Write this worker's heartbeat; return the live workers (this one included), in the order
    they started. Rows silent for a hundred leases are removed."""
    values = {"holder": holder, "host": socket.gethostname()[:60], "pid": os.getpid(), "started_at": started_at,
              "seen_at": now}
    stmt = postgresql.insert(WorkerHeartbeat).values(values)
    session.execute(stmt.on_conflict_do_update(index_elements=["holder"], set_={"seen_at": now}))
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - 100 * ttl))
    return list(session.execute(select(WorkerHeartbeat.holder).where(WorkerHeartbeat.seen_at >= now - ttl)
                                .order_by(WorkerHeartbeat.started_at, WorkerHeartbeat.holder)).scalars())


def _ensure_rows(session: Session, job: str, count: int, now: datetime) -> None:
    have = session.execute(select(WorkerPartition.partition).where(WorkerPartition.job == job,
                                                                   WorkerPartition.partition < count)).all()
    if len(have) == count:
        return
    rows = [{"job": job, "partition": p, "holder": "", "token": 0, "expires_at": now - timedelta(seconds=1)}
            for p in range(count)]
    session.execute(postgresql.insert(WorkerPartition).values(rows).on_conflict_do_nothing())


_workers: weakref.WeakKeyDictionary[Engine, Worker] = weakref.WeakKeyDictionary()


def worker_for(engine: Engine) -> Worker:
    """This process's worker on `engine` (one holder id per process and database)."""
    worker = _workers.get(engine)
    if worker is None or worker.pid != os.getpid():  # a forked child is a worker of its own
        worker = _workers[engine] = Worker(holder_id(), utcnow())
    return worker


def held(bind: Engine | Connection, job: str) -> Claim:
    """The partitions of `job` this process's worker holds (see `Worker.held`)."""
    return worker_for(bind).held(bind, job)


def release_worker(engine: Engine) -> None:
    """A worker stopping cleanly: its leases and heartbeat go now, not after the lease runs out."""
    worker = _workers.pop(engine, None)
    if worker is not None and worker.pid == os.getpid():
        worker.release(engine)


@dataclass(frozen=True)
class PartitionView:
    job: str
    partition: int
    holder: str
    expires_at: datetime
    live: bool


@dataclass(frozen=True)
class WorkerView:
    holder: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    live: bool
    partitions: dict[str, list[int]]


def status(bind: Engine | Connection, now: datetime | None = None) -> tuple[list[WorkerView], list[PartitionView]]:
    """Who holds what: the workers seen (live or not) with their held partitions per job, and every
    partition row."""
    with new_session(bind) as session:
        return status_in(session, now)


def status_in(session: Session, now: datetime | None = None) -> tuple[list[WorkerView], list[PartitionView]]:
    """`status` in the caller's session (the admin page's)."""
    now = now or utcnow()
    ttl = timedelta(seconds=get_settings().worker_lease_seconds)
    beats = session.exec(select(WorkerHeartbeat).order_by(WorkerHeartbeat.started_at)).scalars().all()
    rows = session.exec(select(WorkerPartition).order_by(WorkerPartition.job, WorkerPartition.partition)).scalars().all()
    parts = [PartitionView(r.job, r.partition, r.holder, as_utc(r.expires_at), as_utc(r.expires_at) >= now)
             for r in rows]
    workers = []
    for b in beats:
        held: dict[str, list[int]] = {}
        for p in parts:
            if p.holder == b.holder and p.live:
                held.setdefault(p.job, []).append(p.partition)
        seen = as_utc(b.seen_at)
        workers.append(WorkerView(b.holder, b.host, b.pid, as_utc(b.started_at), seen, seen >= now - ttl, held))
    return workers, parts
