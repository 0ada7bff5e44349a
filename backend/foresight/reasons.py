"""An order's Foresight reasons, worked out when they are shown (the order page, an alert).

Why this exists: the scoring job stores only the numbers for orders it scores with a stored model
(their `foresight_score.reasons` is JSON null): the reasons — TreeSHAP drivers most of all — cost
more than the scores, and few of a million open orders are ever looked at. When a page or an alert
needs them, the order is predicted again with the same model (`model_id`) at the moment it was
scored (`scored_at`), so the words are the ones the job would have written then. Reasons stored
by the job (per-stage medians built without a stored model) or by the re-scoring of a changed order
are read as stored. Models are cached per process by database and id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.clock import as_utc
from backend.foresight import history, service
from backend.foresight.models import ForesightModel, ForesightScore
from engine.foresight import Foresight, ModelLoadError

log = logging.getLogger("gendan.foresight")

_models: dict[tuple[str, int, str], Foresight | None] = {}
_lock = threading.Lock()
MAX_CACHED = 4


def model_by_id(session: Session, model_id: int) -> Foresight | None:
    """The stored model `model_id` (None when it is gone or does not load), cached per process by
    database, id and creation time (one query on a hit)."""
    created = session.connection().execute(
        select(ForesightModel.created_at).where(ForesightModel.id == model_id)).scalar()
    if created is None:
        return None
    key = (session.connection().engine.url.render_as_string(hide_password=True), model_id, str(created))
    with _lock:
        if key in _models:
            return _models[key]
    row = session.get(ForesightModel, model_id)
    model = None
    if row is not None:
        try:
            model = service.load_model(row)
        except ModelLoadError:
            log.warning("foresight model %s does not load; its orders' reasons are not shown", model_id)
    with _lock:
        if len(_models) >= MAX_CACHED:
            _models.clear()
        _models[key] = model
    return model


def forget_cache() -> None:
    with _lock:
        _models.clear()


def reasons_by_order(session: Session, order_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """order id -> its reasons as JSON ({code, params}), for the scored orders among `order_ids`."""
    ids = sorted({i for i in order_ids if i})
    if not ids:
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    pending: dict[tuple[int, Any], list[int]] = {}
    for chunk in (ids[i:i + history.BATCH] for i in range(0, len(ids), history.BATCH)):
        rows = session.connection().execute(
            select(ForesightScore.order_id, ForesightScore.reasons, ForesightScore.model_id, ForesightScore.scored_at)
            .where(ForesightScore.order_id.in_(chunk))).all()
        for order_id, reasons, model_id, scored_at in rows:
            if reasons is not None:
                out[order_id] = list(reasons)
            elif model_id is not None:
                pending.setdefault((model_id, as_utc(scored_at)), []).append(order_id)
    for (model_id, scored_at), todo in pending.items():
        model = model_by_id(session, model_id)
        if model is None:
            continue
        for i in range(0, len(todo), history.BATCH):
            orders = history.open_orders_by_id(session, todo[i:i + history.BATCH])
            for p in model.predict_many(orders, scored_at):
                out[p.order_id] = [r.to_json() for r in p.reasons]
    return out
