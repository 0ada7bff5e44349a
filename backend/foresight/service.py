"""Foresight use cases: queue a training run, run it (in the worker), pick the live model, score orders.

Training: `request_training` queues a run (the schedule, `gendan foresight train`, the Retrain button;
one queued or running run at a time). A worker claims it (`UPDATE ... WHERE state = 'queued'`, so
two workers never run the same run), reads closed orders' histories, trains with engine/foresight
saving its progress as it goes, stores the model with its hold-out report and makes it live only
when it is not worse on the hold-out than the live model (scored on the same hold-out). Then every
open order is scored again (backend/foresight/scoring.py).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.db import new_session
from backend.errors import GendanError
from backend.foresight import history
from backend.foresight.models import ForesightModel, ForesightRun
from engine.foresight import Foresight, ModelLoadError, Reason, TrainConfig, train

log = logging.getLogger("gendan.foresight")

RUN_TIMEOUT = timedelta(hours=1)  # a run "running" longer than this died with its worker
TRIGGERS = ("schedule", "command", "button")


def request_training(session: Session, *, trigger: str, user_id: int | None, now: datetime) -> ForesightRun:
    """Queue a training run, or return the one already queued or running."""
    if trigger not in TRIGGERS:
        raise GendanError("foresight.bad_trigger", {"trigger": trigger})
    pending = session.exec(select(ForesightRun).where(ForesightRun.state.in_(("queued", "running")))
                           .order_by(ForesightRun.id)).scalars().first()
    if pending is not None:
        return pending
    run = ForesightRun(trigger=trigger, requested_by=user_id, created_at=now)
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def get_run(session: Session, run_id: int) -> ForesightRun:
    run = session.get(ForesightRun, run_id)
    if run is None:
        raise GendanError("foresight.run_not_found", {"id": run_id})
    return run


def latest_run(session: Session) -> ForesightRun | None:
    return session.exec(select(ForesightRun).order_by(ForesightRun.id.desc()).limit(1)).scalars().first()


def live_model_row(session: Session) -> ForesightModel | None:
    return session.exec(select(ForesightModel).where(ForesightModel.live.is_(True))
                        .order_by(ForesightModel.id.desc()).limit(1)).scalars().first()


def recent_models(session: Session, limit: int = 2) -> list[ForesightModel]:
    return list(session.exec(select(ForesightModel).order_by(ForesightModel.id.desc()).limit(limit)).scalars())


def load_model(row: ForesightModel) -> Foresight:
    """The engine model of a stored row (ModelLoadError when its text is damaged)."""
    try:
        data = json.loads(row.model)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(str(exc)[:200]) from exc
    if not isinstance(data, dict):
        raise ModelLoadError("not an object")
    return Foresight.from_json(data)


def _progress(bind: Engine | Connection, run_id: int, fraction: float, step: str) -> None:
    with new_session(bind) as session:
        session.execute(update(ForesightRun).where(ForesightRun.id == run_id)
                        .values(progress=max(0, min(100, int(fraction * 100))), step=step[:40]))
        session.commit()


def claim_next(bind: Engine | Connection, now: datetime) -> int | None:
    """Fail runs whose worker died, then claim the oldest queued run (None when there is none)."""
    with new_session(bind) as session:
        session.execute(update(ForesightRun)
                        .where(ForesightRun.state == "running", ForesightRun.started_at < now - RUN_TIMEOUT)
                        .values(state="failed", finished_at=now, error={"code": "foresight.run_timed_out",
                                                                        "params": {}}))
        run_id = session.execute(select(ForesightRun.id).where(ForesightRun.state == "queued")
                                 .order_by(ForesightRun.id).limit(1)).scalar()
        if run_id is None:
            session.commit()
            return None
        claimed = session.execute(update(ForesightRun).where(ForesightRun.id == run_id, ForesightRun.state == "queued")
                                  .values(state="running", started_at=now, progress=1, step="read")).rowcount
        session.commit()
        return run_id if claimed == 1 else None


def run_training(bind: Engine | Connection, run_id: int, now: datetime, *, config: TrainConfig | None = None) -> None:
    """Train for a claimed run, store the model, maybe make it live, record the outcome."""
    try:
        with new_session(bind, writes=False) as session:
            histories = history.closed_histories(session)
            live_row = live_model_row(session)
            live = None
            if live_row is not None:
                try:
                    live = load_model(live_row)
                except ModelLoadError:
                    live = None  # a damaged live model is replaced by any new one
        _progress(bind, run_id, 0.1, "train")
        outcome = train(histories, now=now, config=config or TrainConfig(), live=live,
                        progress=lambda f, step: _progress(bind, run_id, 0.1 + 0.8 * f, step))
        report = outcome.report
        with new_session(bind) as session:
            period = report.get("period") or [None, None]
            row = ForesightModel(kind=outcome.model.kind, live=False, model=json.dumps(outcome.model.to_json()),
                                 report=_jsonable(report), closed_orders=int(report.get("closed_orders", 0)),
                                 trained_from=_dt(period[0]), trained_to=_dt(period[1]), created_at=now)
            session.add(row)
            session.flush()
            goes_live = outcome.better_than_live or live is None
            if goes_live:
                session.execute(update(ForesightModel).where(ForesightModel.id != row.id, ForesightModel.live.is_(True))
                                .values(live=False))
                row.live = True
            session.execute(update(ForesightRun).where(ForesightRun.id == run_id)
                            .values(progress=95, step="score", model_id=row.id, went_live=goes_live))
            session.commit()
        from backend.foresight import scoring

        scoring.score_all(bind, now)
        _finish(bind, run_id, now, state="done")
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, never kills the worker
        log.exception("foresight training run %s failed", run_id)
        _finish(bind, run_id, now, state="failed",
                error={"code": "foresight.train_failed", "params": {"detail": str(exc)[:300]}})


def _finish(bind: Engine | Connection, run_id: int, now: datetime, *, state: str,
            error: dict[str, Any] | None = None) -> None:
    with new_session(bind) as session:
        values: dict[str, Any] = {"state": state, "finished_at": now, "error": error}
        if state == "done":
            values.update(progress=100, step="done")
        session.execute(update(ForesightRun).where(ForesightRun.id == run_id).values(**values))
        session.commit()


def train_now(bind: Engine | Connection, *, trigger: str, user_id: int | None, now: datetime,
              config: TrainConfig | None = None) -> ForesightRun:
    """Queue a run and run it here (the CLI, tests): returns the finished run."""
    with new_session(bind) as session:
        run = request_training(session, trigger=trigger, user_id=user_id, now=now)
        run_id = run.id
    claimed = claim_next(bind, now)
    if claimed is not None:
        run_training(bind, claimed, now, config=config)
    with new_session(bind, writes=False) as session:
        return get_run(session, run_id)


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _jsonable(value: Any) -> Any:
    """JSON values only (PostgreSQL's JSONB refuses NaN and infinities: they become null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def notes_of(report: dict[str, Any]) -> list[Reason]:
    return [Reason.from_json(r) for r in report.get("notes") or ()]
