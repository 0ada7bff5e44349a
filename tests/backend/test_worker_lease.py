"""Named worker leases: one holder, taken over after expiry, late writes fenced (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.db import new_session
from backend.worker import lease
from tests.factories.orders import make_customer


def test_a_running_lease_is_refused_to_others(connection):
    held = lease.acquire(connection, "job", timedelta(minutes=1), holder="a")
    assert held is not None and held.token == 1
    assert lease.acquire(connection, "job", timedelta(minutes=1), holder="b") is None
    lease.release(connection, held)
    assert lease.acquire(connection, "job", timedelta(minutes=1), holder="b").token == 2


def test_an_expired_holder_is_taken_over_and_its_late_commit_is_fenced(connection):
    from backend.customers.models import Customer

    stale = lease.acquire(connection, "job", timedelta(seconds=-1), holder="frozen")  # already expired
    fresh = lease.acquire(connection, "job", timedelta(minutes=1), holder="other")
    assert (stale.token, fresh.token) == (1, 2)
    with new_session(connection) as session:
        before = session.exec(select(func.count()).select_from(Customer)).scalar_one()
        make_customer(session)  # the late holder's write ...
        with pytest.raises(lease.LeaseLost):
            stale.fence(session)  # ... is rolled back, not committed
        assert session.exec(select(func.count()).select_from(Customer)).scalar_one() == before
    with new_session(connection) as session:
        fresh.fence(session)  # the new holder renews
        session.commit()
