"""The order scores jobs on SQLite while another connection writes: the worker logged "database is
locked" at `make run`'s start, when the web process and the worker wrote at once. The jobs'
transactions begin IMMEDIATE (backend/scores/service.py), so they wait for the write lock instead
of failing on the lock upgrade (tests/backend/sqlite_contention.py places the other writer there).
SQLite only: PostgreSQL has row locks and no such upgrade."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from backend.db import make_engine, new_session
from backend.orders.models import Order
from backend.scores import service as scores_service
from backend.scores.models import OrderScoreMark
from tests.backend.scores.test_scores_differential import NOW, _history
from tests.backend.sqlite_contention import Contender
from tests.conftest import make_test_database
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    url = make_test_database("sqlite", tmp_path_factory.mktemp("scores-lock"), label="scores-lock")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _seed(engine) -> list[int]:
    """Closed history and open orders of one customer, each open order marked as changed."""
    with new_session(engine) as session:
        _history(session, 3)
        owner = make_user(session)
        customer = make_customer(session, tier="key")
        opened = [make_order(session, owner=owner, customer=customer, stage="production",
                             at=NOW - timedelta(days=4), planned_delivery=(NOW + timedelta(days=2)).date(),
                             data={"supplier": "Acme"}).id for _ in range(3)]
        session.add_all([OrderScoreMark(kind="order", key=str(i), created_at=NOW) for i in opened])
        session.commit()
        return opened


def _scored(engine, ids) -> int:
    with new_session(engine, writes=False) as session:
        return session.exec(select(func.count()).select_from(Order).where(
            Order.id.in_(ids), Order.priority_score > 0)).one()[0]


def test_scores_jobs_wait_for_another_writer_instead_of_failing(sqlite_engine):
    opened = _seed(sqlite_engine)
    contender = Contender(make_url(str(sqlite_engine.url)).database)
    with contender.contend(sqlite_engine):
        drained = scores_service.refresh_changed_scores(sqlite_engine, NOW)
        met = contender.holds
        reconciled = scores_service.refresh_scores(sqlite_engine, NOW + timedelta(hours=6))
    # the lease's take, the drain, the lease's release: each met the other writer. The drain reads the
    # marks before it writes, so without its BEGIN IMMEDIATE it fails here; the full refresh's first
    # statement writes (SQLite then waits as it should), so its BEGIN IMMEDIATE is a safeguard
    assert met >= 3
    assert contender.holds >= 6
    assert drained >= len(opened) and _scored(sqlite_engine, opened) == len(opened)
    assert reconciled >= 0
    with new_session(sqlite_engine, writes=False) as session:
        assert session.exec(select(func.count()).select_from(OrderScoreMark)).one()[0] == 0

