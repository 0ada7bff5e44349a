"""Writers that meet another SQLite writer at each transaction's BEGIN (tests/backend/sqlite_contention.py)
wait for the write lock instead of failing with "database is locked": every worker job, and the demo
load (`gendan demo` next to a running server). SQLite only: PostgreSQL has row locks and no lock
upgrade. The order scores jobs have their own test (tests/backend/scores/test_scores_sqlite_lock.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from backend.db import make_engine, new_session
from backend.demo import load_demo
from backend.orders.models import Order
from backend.pipeline_assembly import assemble, build_jobs
from tests.backend.scores.test_scores_differential import NOW
from tests.backend.scores.test_scores_sqlite_lock import _seed
from tests.backend.sqlite_contention import Contender
from tests.conftest import make_test_database


@pytest.fixture
def sqlite_engine(tmp_path):
    url = make_test_database("sqlite", tmp_path, label="writers")
    engine = assemble(make_engine(url))
    yield engine
    engine.dispose()


def _contender(engine) -> Contender:
    return Contender(make_url(str(engine.url)).database)


def test_the_demo_load_waits_for_another_writer(sqlite_engine):
    """It counts the demo orders, then writes: without BEGIN IMMEDIATE the upgrade fails at once."""
    contender = _contender(sqlite_engine)
    with contender.contend(sqlite_engine):
        summary = load_demo(sqlite_engine, orders=5, customers=2, now=NOW)
    assert summary is not None and summary.orders == 5
    assert contender.holds >= 2
    with new_session(sqlite_engine, writes=False) as session:
        assert session.exec(select(func.count()).select_from(Order)).one()[0] == 5


def test_every_worker_job_waits_for_another_writer(sqlite_engine, tmp_path):
    """Each job, once, on a database with changed orders to score, with each of its transactions met
    by the other writer: none fails."""
    _seed(sqlite_engine)
    failures, met = {}, {}
    for job in build_jobs(upload_dir=tmp_path):
        contender = _contender(sqlite_engine)
        try:
            with contender.contend(sqlite_engine):
                job.run(sqlite_engine, NOW)
        except Exception as exc:  # noqa: BLE001 - every job's outcome, then one assertion
            failures[job.name] = repr(exc)[:300]
        met[job.name] = contender.holds
    assert failures == {}
    assert sum(met.values()) >= len(met)  # the jobs' transactions did meet the other writer
