"""Score every open order with the live model (or the fallback) and store the scores.

The scores go to the narrow `foresight_score` (predtable_0001; the facts read them, the rule scan's
SQL too), never to sales_order: they are derived data, refreshed by the worker (`score_open_orders`,
every few minutes, and after each training run), each chunk its own transaction. Closed orders lose
their scores.

Which model: the live one; without one (a new installation), or when the live one fails to load,
per-stage medians computed from the history there is (engine fallback), with a reason saying so.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.db import new_session
from backend.foresight import batch, history, reasons, service
from backend.foresight.models import PREDICTIONS, ForesightModel, ForesightScore
from backend.orders.models import Order
from engine.foresight import Foresight, ModelLoadError, Prediction, Reason, TrainConfig, train
from engine.foresight.batch import score_columns

log = logging.getLogger("gendan.foresight")

FALLBACK_ONLY = TrainConfig(min_orders=10**12, holdout=0.0)
_cache: dict[Any, tuple[int | None, Foresight, float]] = {}  # key -> (model id, model, built at, monotonic)
_lock = threading.Lock()


def current_model(session: Session, now: datetime, *,
                  fallback_max_age: float | None = None) -> tuple[int | None, Foresight]:
    """(live model id or None, the model to score with), cached per process, database and live model
    (its id and creation time). Only the live row's id is read on a hit; its model text is read
    and parsed once. The per-stage medians used without a live model are rebuilt on each call
    (the scoring job), unless `fallback_max_age` (seconds) allows one built that recently (the
    re-scoring of a changed order)."""
    live = session.connection().execute(
        select(ForesightModel.id, ForesightModel.created_at).where(ForesightModel.live.is_(True))
        .order_by(ForesightModel.id.desc()).limit(1)).first()
    url = session.connection().engine.url.render_as_string(hide_password=True)
    key = (url, live[0], str(live[1])) if live is not None else (url, None)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and (live is not None or (
            fallback_max_age is not None and time.monotonic() - hit[2] < fallback_max_age)):
        return hit[0], hit[1]
    row = session.get(ForesightModel, live[0]) if live is not None else None
    model_id: int | None = None
    model: Foresight | None = None
    notes: tuple[Reason, ...] = ()
    if row is not None:
        try:
            model, model_id = service.load_model(row), row.id
        except ModelLoadError:
            log.warning("foresight model %s does not load; scoring with per-stage medians", row.id)
            notes = (Reason("model_unreadable"),)
    if model is None:
        histories = history.closed_histories(session)
        model = train(histories, now=now, config=FALLBACK_ONLY).model
        if not notes:
            notes = (Reason("fallback", {"closed": len(histories), "needed": TrainConfig().min_orders}),) \
                if histories else (Reason("no_history"),)
        model.notes = notes
    with _lock:
        _cache.clear() if len(_cache) > 16 else None
        _cache[key] = (model_id, model, time.monotonic())
    return model_id, model


def forget_cache() -> None:
    """Forget the cached models (also those the reasons are worked out with)."""
    with _lock:
        _cache.clear()
    reasons.forget_cache()


CHUNK = 20_000  # open orders per read / predict / write


def score_all(bind: Engine | Connection, now: datetime, *, stale_after: timedelta | None = None,
              chunk: int = CHUNK, timings: dict[str, float] | None = None) -> int:
    """Score every open order (with `stale_after`: only those unscored, scored longer ago than that,
    or by another model than the live one); returns how many were scored.

    A stored model (live, or the fallback a training run chose) scores chunk by chunk as columns
    (backend/foresight/batch.py, engine/foresight/batch.py): the numbers only, the reasons worked
    out when an order page or an alert shows them (backend/foresight/reasons.py). On PostgreSQL with
    an engine, reading the next chunk and writing the last one run beside the scoring (two threads,
    their own connections). Per-stage medians built here from the history (no stored model) have
    nothing to work the reasons out from later: those orders get their reasons now, order by order."""
    with new_session(bind, writes=False) as session:
        model_id, model = current_model(session, now)
    stale = (now - stale_after, model_id) if stale_after is not None else None
    if model_id is None:
        done = _score_with_reasons(bind, model, now, stale)
    else:
        done = _score_columns(bind, model_id, model, now, stale, chunk, {} if timings is None else timings)
    with new_session(bind) as session:
        clear_closed(session)
        session.commit()
    return done


def clear_closed(session: Session) -> None:
    """Closed orders lose their predictions (their rows stay, with the reasons)."""
    table = ForesightScore.__table__
    session.connection().execute(update(table).where(
        table.c.order_id.in_(select(Order.__table__.c.id).where(Order.__table__.c.status != "open")),
        or_(*(table.c[name].is_not(None) for name in PREDICTIONS))).values(dict.fromkeys(PREDICTIONS)))


def _score_with_reasons(bind: Engine | Connection, model: Foresight, now: datetime,
                        stale: tuple[datetime, int | None] | None) -> int:
    done, last = 0, 0
    while True:
        # read and write in turns, never a write inside a read's transaction
        with new_session(bind, writes=False) as reader:
            orders = history.open_orders(reader, after_id=last, stale=stale)
        if not orders:
            return done
        last = orders[-1].order_id
        predictions = model.predict_many(orders, now)
        with new_session(bind) as session:
            store(session, predictions, None, now)
            session.commit()
        done += len(predictions)


def _score_columns(bind: Engine | Connection, model_id: int, model: Foresight, now: datetime,
                   stale: tuple[datetime, int | None] | None, chunk: int, timings: dict[str, float]) -> int:
    """`timings`: busy seconds of reading, scoring and writing are added to it (they overlap)."""
    needed = set(model.encoder.categorical) if model.encoder is not None else set()
    reader = batch.read_columns if needed <= batch.LEAN_FEATURES else batch.read_columns_slowly

    def timed(step: str, started: float) -> None:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - started

    def read(after: int) -> batch.OpenColumns:
        started = time.perf_counter()
        with new_session(bind, writes=False) as session:
            cols = reader(session, after_id=after, limit=chunk, stale=stale)
        timed("read", started)
        return cols

    def write(scores: Any) -> None:
        started = time.perf_counter()
        with new_session(bind) as session:
            batch.write_scores(session, scores, model_id, now)
            session.commit()
        timed("write", started)

    def score(cols: batch.OpenColumns) -> Any:
        started = time.perf_counter()
        scores = score_columns(model, cols, now)
        timed("score", started)
        return scores

    done = 0
    if not (isinstance(bind, Engine) and bind.dialect.name == "postgresql"):
        cols = read(0)
        while len(cols):
            write(score(cols))
            done += len(cols)
            cols = read(int(cols.order_id[-1]))
        return done
    with ThreadPoolExecutor(2, thread_name_prefix="foresight-score") as pool:
        reading, writing = pool.submit(read, 0), None
        while True:
            cols = reading.result()
            if not len(cols):
                break
            reading = pool.submit(read, int(cols.order_id[-1]))
            scores = score(cols)
            if writing is not None:
                writing.result()
            writing = pool.submit(write, scores)
            done += len(cols)
        if writing is not None:
            writing.result()
    return done


def store(session: Session, predictions: list[Prediction], model_id: int | None, now: datetime) -> None:
    """Store predictions with their reasons: one upsert of foresight_score for them all."""
    batch.upsert(session, [
        {"order_id": p.order_id, "basis": p.basis, "model_id": model_id, "stage_done_p90_at": p.stage_done_p90_at,
         "completion_p90_at": p.completion_p90_at, "reasons": json.loads(json.dumps([r.to_json() for r in p.reasons])),
         "scored_at": now, "predicted_stage_done_at": p.stage_done_at, "predicted_completion_at": p.completion_at,
         "delay_probability": p.delay_probability, "stage_p90_hours": p.stage_p90_hours} for p in predictions])
