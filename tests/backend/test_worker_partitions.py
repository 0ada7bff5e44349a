"""Partition leases (backend/worker/partitions.py): fair shares by live workers, surplus given back
when a worker joins, a dead worker's partitions taken over, late commits fenced; SQLite is one
worker holding everything. A worker "dies" here by its heartbeat and leases running out (the rows
written as the clock would leave them); tests/backend/rules/test_due_partitions.py kills real ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import column, func, select, update

from backend.clock import utcnow
from backend.db import new_session
from backend.worker import partitions
from backend.worker.lease import LeaseLost
from backend.worker.partitions import Worker, WorkerHeartbeat, WorkerPartition
from tests.factories.orders import make_customer

TTL = timedelta(minutes=1)


def _worker(name: str) -> Worker:
    return Worker(name, utcnow())


def _die(connection, worker: Worker) -> None:
    """What the database holds a lease after `worker` was SIGKILLed: nothing renewed since."""
    with new_session(connection) as session:
        session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.holder == worker.holder)
                        .values(seen_at=utcnow() - 2 * TTL))
        session.execute(update(WorkerPartition).where(WorkerPartition.holder == worker.holder)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()


def test_sqlite_is_one_worker_holding_every_partition(connection):
    if connection.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    claim = _worker("a").claim(connection, "job", count=16, ttl=TTL)
    assert claim.held == list(range(16)) and claim.owns(12345)
    with new_session(connection) as session:
        assert session.execute(select(func.count()).select_from(WorkerPartition)).scalar_one() == 0  # nothing leased
        claim.fence(session)


def test_workers_share_partitions_fairly_and_take_over_a_dead_ones(connection):
    if connection.dialect.name != "postgresql":
        pytest.skip("several workers run on PostgreSQL")
    a, b, c = _worker("a"), _worker("b"), _worker("c")
    assert a.claim(connection, "job", count=16, ttl=TTL).held == list(range(16))  # alone: everything
    assert b.claim(connection, "job", count=16, ttl=TTL).held == []  # a's leases still run
    assert len(a.claim(connection, "job", count=16, ttl=TTL).held) == 8  # b is live: a gives back its surplus
    assert len(b.claim(connection, "job", count=16, ttl=TTL).held) == 8  # ... and b takes it
    assert set(a.claims["job"].held) | set(b.claims["job"].held) == set(range(16))
    c.claim(connection, "job", count=16, ttl=TTL)  # a third joins: shares of 6 + 5 + 5
    for w in (a, b, c, a, b, c):
        w.claim(connection, "job", count=16, ttl=TTL)
    shares = [len(w.claims["job"].held) for w in (a, b, c)]
    assert shares == [6, 5, 5] and sum(shares) == 16  # the first started holds the one left over
    assert len({p for w in (a, b, c) for p in w.claims["job"].held}) == 16  # nobody shares a partition
    assert b.claims["job"].owns(next(p for p in range(16) if p in b.claims["job"].tokens))

    _die(connection, a)
    for w in (b, c, b, c):
        w.claim(connection, "job", count=16, ttl=TTL)
    assert sorted(len(w.claims["job"].held) for w in (b, c)) == [8, 8]  # a's partitions went to b and c
    assert set(b.claims["job"].held) | set(c.claims["job"].held) == set(range(16))

    workers, parts = partitions.status(connection)
    live = {w.holder: w.partitions.get("job", []) for w in workers if w.live}
    assert set(live) == {"b", "c"} and sorted(p for ps in live.values() for p in ps) == list(range(16))
    assert {p.holder for p in parts if p.job == "job"} == {"b", "c"}

    partitions.Worker.release(c, connection)  # c stops cleanly: b takes everything at once
    assert b.claim(connection, "job", count=16, ttl=TTL).held == list(range(16))


def test_a_worker_that_lost_a_partition_commits_nothing(connection):
    if connection.dialect.name != "postgresql":
        pytest.skip("several workers run on PostgreSQL")
    from backend.customers.models import Customer

    frozen, other = _worker("frozen"), _worker("other")
    stale = frozen.claim(connection, "job", count=4, ttl=TTL)
    assert stale.held == [0, 1, 2, 3]
    _die(connection, frozen)  # it froze past its lease ...
    assert other.claim(connection, "job", count=4, ttl=TTL).held == [0, 1, 2, 3]  # ... and was taken over
    with new_session(connection) as session:
        before = session.exec(select(func.count()).select_from(Customer)).scalar_one()
        make_customer(session)  # the frozen worker resumes and writes ...
        with pytest.raises(LeaseLost):
            stale.fence(session)  # ... and rolls back instead of committing
        assert session.exec(select(func.count()).select_from(Customer)).scalar_one() == before
    with new_session(connection) as session:
        other.claims["job"].fence(session)  # the holder renews
        session.commit()


def test_a_claim_filters_orders_by_partition(connection):
    if connection.dialect.name != "postgresql":
        pytest.skip("leases on PostgreSQL")
    claim = _worker("a").claim(connection, "job", count=4, ttl=TTL)
    claim.tokens = {p: t for p, t in claim.tokens.items() if p in (1, 3)}
    ids = column("id")
    rows = connection.execute(select(ids).select_from(
        select(func.generate_series(1, 12).label("id")).subquery()).where(claim.where(ids))).scalars().all()
    assert rows == [1, 3, 5, 7, 9, 11] and all(claim.owns(i) for i in rows) and not claim.owns(2)


def test_fair_shares_differ_by_one_at_most():
    live = ["a", "b", "c"]
    assert [partitions.fair_share(16, live, w) for w in live] == [6, 5, 5]
    assert [partitions.fair_share(16, live[:2], w) for w in live[:2]] == [8, 8]
    assert [partitions.fair_share(4, [*live, "d", "e"], w) for w in [*live, "d", "e"]] == [1, 1, 1, 1, 0]
    assert partitions.fair_share(16, [], "a") == 16  # before its first heartbeat is counted: all of them


def test_a_dead_workers_partitions_are_taken_before_its_lease_runs_out(connection):
    """A SIGKILLed worker's connections close: its liveness lock goes with them, and the others'
    next claim takes its partitions though its leases (a minute here) still run; if it was alive
    after all, its next fence fails."""
    if connection.dialect.name != "postgresql":
        pytest.skip("liveness locks on PostgreSQL")
    from backend.customers.models import Customer

    a, b, frozen = _worker("alive-a"), _worker("killed-b"), _worker("frozen-c")
    for w in (a, b, frozen):
        w.stay_alive(connection)  # as a worker process does on its engine (the runner)
    a.claim(connection, "job", count=12, ttl=TTL)
    b.claim(connection, "job", count=12, ttl=TTL)
    frozen.claim(connection, "job", count=12, ttl=TTL)
    for w in (a, b, frozen, a, b, frozen):
        w.claim(connection, "job", count=12, ttl=TTL)
    assert [len(w.claims["job"].held) for w in (a, b, frozen)] == [4, 4, 4]
    stale = b.claims["job"]

    b.drop_alive()  # what SIGKILL does to its connections; its heartbeat and leases are fresh
    for w in (a, frozen, a, frozen):
        w.claim(connection, "job", count=12, ttl=TTL)
    assert sorted(len(w.claims["job"].held) for w in (a, frozen)) == [6, 6]  # b's four, at once
    assert set(a.claims["job"].held) | set(frozen.claims["job"].held) == set(range(12))
    with new_session(connection) as session:
        before = session.exec(select(func.count()).select_from(Customer)).scalar_one()
        make_customer(session)
        with pytest.raises(LeaseLost):
            stale.fence(session)  # b was alive after all: it writes nothing
        assert session.exec(select(func.count()).select_from(Customer)).scalar_one() == before

    held = list(frozen.claims["job"].held)  # a frozen worker keeps its connection: nothing moves
    a.claim(connection, "job", count=12, ttl=TTL)
    assert frozen.claim(connection, "job", count=12, ttl=TTL).held == held
    for w in (a, frozen):
        partitions.Worker.release(w, connection)
    assert a.alive is None and frozen.alive is None


def test_a_worker_never_seen_locking_waits_for_its_lease(connection):
    """A holder that takes no liveness lock (an older version; a claim on a caller's connection) is
    not taken for dead: its partitions wait for its lease."""
    if connection.dialect.name != "postgresql":
        pytest.skip("liveness locks on PostgreSQL")
    a, old = _worker("locking-a"), _worker("old-b")
    a.stay_alive(connection)
    for w in (a, old, a, old):
        w.claim(connection, "job", count=8, ttl=TTL)
    assert [len(w.claims["job"].held) for w in (a, old)] == [4, 4] and old.alive is None
    a.claim(connection, "job", count=8, ttl=TTL)
    assert len(a.claims["job"].held) == 4
    a.drop_alive()
