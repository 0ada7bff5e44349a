"""Worker jobs: run queued training runs (and queue one by the schedule), refresh the scores."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from backend.clock import as_utc
from backend.db import new_session
from backend.foresight import scoring, service
from backend.foresight.models import ForesightRun
from backend.worker import lease as leases

RETRAIN_EVERY = timedelta(days=1)
RESCORE_AFTER = timedelta(hours=1)
LEASE = "foresight.score"


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
    """The sweep: orders never scored (new ones), scored by another model, or longer ago than
    RESCORE_AFTER (their time in stage has grown). A changed order is re-scored at once by the
    pipeline, so the sweep's cost follows new orders and the clock, not the whole book every round.
    Under a lease: another process sweeping → skip this round."""
    held = leases.acquire(bind, LEASE, timedelta(minutes=30))
    if held is None:
        return 0
    try:
        return scoring.score_all(bind, now, stale_after=RESCORE_AFTER)
    finally:
        leases.release(bind, held)
