"""Named leases: one holder at a time, for a limited time, renewed while it works.

Why not a PostgreSQL advisory lock: a worker frozen with SIGSTOP keeps its connection, so its
session lock (and its open transaction) held forever and every other worker stopped scanning
(issue 18). A lease row expires: a stopped holder loses it after `ttl` and another worker takes
over. Each take-over increments the row's `token`; the holder checks its token inside each
transaction right before committing (`fence`), so a holder that resumes after losing the lease
rolls back instead of writing. On PostgreSQL the fenced transactions also set
`idle_in_transaction_session_timeout`, so the server ends a frozen holder's open transaction and
its row locks within the same time. Times are the wall clock (`backend.clock.utcnow`), shared by
every process, not the `now` a job is given.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from backend.clock import utcnow
from backend.db import new_session
from backend.models_base import UTCDateTime


class WorkerLease(SQLModel, table=True):
    __tablename__ = "worker_lease"

    name: str = Field(primary_key=True, max_length=60)
    holder: str = Field(max_length=120)
    token: int = 0
    expires_at: datetime = Field(sa_type=UTCDateTime)


class LeaseLost(Exception):
    """The lease expired and another worker took it: stop, write nothing more."""


@dataclass
class Lease:
    name: str
    holder: str
    token: int
    ttl: timedelta

    def fence(self, session: Session) -> None:
        """Inside the caller's transaction, right before its commit: still ours? Renew, else LeaseLost."""
        renewed = session.execute(
            update(WorkerLease).where(WorkerLease.name == self.name, WorkerLease.token == self.token,
                                      WorkerLease.holder == self.holder)
            .values(expires_at=utcnow() + self.ttl).execution_options(synchronize_session=False)
        ).rowcount
        if renewed != 1:
            session.rollback()
            raise LeaseLost(self.name)

    def bound(self, session: Session) -> None:
        """On PostgreSQL, end this transaction on the server if its holder freezes mid-way."""
        if session.get_bind().dialect.name == "postgresql":
            ms = int(self.ttl.total_seconds() * 1000)
            session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))


def holder_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(bind: Engine | Connection, name: str, ttl: timedelta, *, holder: str | None = None) -> Lease | None:
    """Take the lease if it is free or expired; None while another holder's lease runs."""
    holder = holder or holder_id()
    now = utcnow()
    with new_session(bind) as session:
        taken = session.execute(
            update(WorkerLease).where(WorkerLease.name == name,
                                      or_(WorkerLease.expires_at < now, WorkerLease.holder == holder))
            .values(holder=holder, token=WorkerLease.token + 1, expires_at=now + ttl)
            .returning(WorkerLease.token).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if taken is None:
            exists = session.get(WorkerLease, name) is not None
            if exists:
                session.rollback()
                return None
            session.add(WorkerLease(name=name, holder=holder, token=1, expires_at=now + ttl))
            try:
                session.commit()
            except IntegrityError:  # another worker created it first
                session.rollback()
                return None
            return Lease(name, holder, 1, ttl)
        session.commit()
    return Lease(name, holder, taken, ttl)


def release(bind: Engine | Connection, lease: Lease) -> None:
    """Give the lease back early (expire it), if still ours."""
    with new_session(bind) as session:
        session.execute(update(WorkerLease).where(WorkerLease.name == lease.name, WorkerLease.token == lease.token,
                                                  WorkerLease.holder == lease.holder)
                        .values(expires_at=utcnow() - timedelta(seconds=1))
                        .execution_options(synchronize_session=False))
        session.commit()
