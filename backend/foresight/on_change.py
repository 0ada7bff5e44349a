"""Re-score an order the moment its stage or planned delivery changes (the pipeline's `foresight` stage).

Why: the scoring job runs every few minutes; until then an order that just entered production kept
the prediction of its previous stage, and its delay risk (and the priority that hears it) lagged
behind the order page a person is looking at. This stage recomputes that one order's prediction
in the same transaction, with the live model cached per process (backend/foresight/scoring.py
`current_model`, keyed by the live model's id; the per-stage medians when there is none, reused for
FALLBACK_MAX_AGE seconds), stores it like the job does (its `foresight_score` row with the reasons, no
version bump, no event) and refreshes the order's priority score (engine/facts/scores.py, Python
rendering). Cost per change: a few indexed queries and one prediction; nothing for new orders
(the job scores them), for closed orders (the job clears them) or for other fields. A failure to
predict is logged and leaves the change alone: scoring never refuses a person's change.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from backend.customers.models import Customer
from backend.foresight import history, scoring
from backend.orders.models import Order
from backend.pipeline import OrderChange
from engine.facts import scores

log = logging.getLogger("gendan.foresight")

TRIGGERS = frozenset({"stage", "planned_delivery"})
FALLBACK_MAX_AGE = 600.0


def rescore_on_change(session: Session, change: OrderChange) -> None:
    order = change.order
    if change.is_new or order.id is None or order.status != "open" or not (change.changed_fields & TRIGGERS):
        return
    now = change.now
    try:
        model_id, model = scoring.current_model(session, now, fallback_max_age=FALLBACK_MAX_AGE)
        predictions = model.predict_many(history.open_orders_by_id(session, [order.id]), now)
    except Exception:  # noqa: BLE001 - the job scores it later; the change itself goes through
        log.exception("foresight: re-scoring order %s on change failed", order.id)
        return
    if not predictions:
        return
    p = predictions[0]
    tier = session.connection().execute(select(Customer.tier).where(Customer.id == order.customer_id)).scalar()
    mine = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
    priority = scores.priority_score(mine, tier, now, p.delay_probability)
    try:
        # a savepoint: the scoring job writing this order's reasons at the same moment (a duplicate
        # key) undoes only this re-scoring, never the person's change
        with session.begin_nested():
            scoring.store(session, predictions, model_id, now)
            if priority != order.priority_score:
                session.connection().execute(update(Order.__table__).where(Order.__table__.c.id == order.id)
                                             .values(priority_score=priority))
    except DBAPIError:
        log.warning("foresight: re-scoring order %s on change lost a race; the job scores it", order.id)
        return
    values = {"predicted_stage_done_at": p.stage_done_at, "predicted_completion_at": p.completion_at,
              "delay_probability": p.delay_probability, "stage_p90_hours": p.stage_p90_hours,
              "priority_score": priority}
    for name, value in values.items():
        set_committed_value(order, name, value)
