"""Worker jobs: run queued training runs (and queue one by the schedule), refresh the scores."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from backend.clock import as_utc
from backend.db import new_session
from backend.foresight import scoring, service
from backend.foresight.models import ForesightRun

RETRAIN_EVERY = timedelta(days=1)


def train_due(bind: Engine | Connection, now: datetime) -> int:
    """Queue the scheduled run when the last one is older than RETRAIN_EVERY; run a queued run."""
    with new_session(bind) as session:
        newest = session.execute(select(func.max(ForesightRun.created_at))).scalar()
        if newest is None or as_utc(newest) < now - RETRAIN_EVERY:
            service.request_training(session, trigger="schedule", user_id=None, now=now)
    run_id = service.claim_next(bind, now)
    if run_id is None:
        return 0
    service.run_training(bind, run_id, now)
    return 1


def score_open_orders(bind: Engine | Connection, now: datetime) -> int:
    return scoring.score_all(bind, now)
