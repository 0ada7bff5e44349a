"""Scoring many open orders at once, column by column (the worker's hot loop; pure, `now` is an argument).

Why this exists: `Foresight.predict_many` builds a dictionary per order, works out durations and
reasons per order in Python and runs TreeSHAP for the risky ones — 6,000–8,000 orders/s, so a
million open orders took two minutes or more. The scoring job needs only the numbers (the columns
the facts read); the reasons, drivers included, are worked out when an order page or an alert
shows them (`Foresight.predict_many` for that one order, at the moment it was scored). This module
computes the same numbers as `Foresight._predict` from numpy columns: one call per booster per
chunk, the per-stage statistics applied stage by stage, no per-order Python except the vocabulary
look-ups. `tests/engine/foresight/test_batch_scoring.py` holds it equal to `predict_many`.

A model whose encoder has a feature this module does not know (a new feature in
engine/foresight/features.py) still scores correctly: its feature matrix is then built through
`base_row` / `Encoder.matrix`, order by order, like `predict_many` does (slower, same figures).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from engine.foresight.features import base_row
from engine.foresight.history import CATEGORICAL
from engine.foresight.model import MAX_HOURS, SLACK_BINS, Foresight

_EPOCH_DAY = date(1970, 1, 1).toordinal()
#: the features built here column by column (anything else: order by order through base_row)
KNOWN = frozenset({"stage", *CATEGORICAL, "amount_band", "weekday", "month", "days_to_planned", "elapsed_hours",
                   "slack_days"})
BASIS = ("none", "fallback", "model")


@dataclass
class OpenColumns:
    """Open orders as columns. `entered`: stage_entered_at in seconds since 1970 (UTC);
    `planned`: the planned delivery day as days since 1970 (NaN: none); `features`: raw categorical
    values per name (str or None; absent names read as None); `amount` (NaN: none)."""

    order_id: np.ndarray
    stage: Sequence[str]
    entered: np.ndarray
    planned: np.ndarray
    amount: np.ndarray
    features: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.order_id)


@dataclass
class Scores:
    """The numbers of each order: times in seconds since 1970 (NaN: none), P(late) rounded to 4
    places (NaN: none), the stage's p90 hours (NaN: none), basis as an index into BASIS."""

    order_id: np.ndarray
    basis: np.ndarray
    stage_done: np.ndarray
    stage_done_p90: np.ndarray
    completion: np.ndarray
    completion_p90: np.ndarray
    probability: np.ndarray
    stage_p90_hours: np.ndarray


def epoch_seconds(value: datetime) -> float:
    return value.astimezone(UTC).timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp()


def epoch_days(value: date | None) -> float:
    return float("nan") if value is None else float(value.toordinal() - _EPOCH_DAY)


def _codes(vocab: Mapping[str, int], values: Sequence[Any]) -> np.ndarray:
    get = vocab.get
    return np.fromiter((0 if v is None else get(v if type(v) is str else str(v), 0) for v in values),
                       dtype=np.float64, count=len(values))


def _rows(cols: OpenColumns, i: int) -> dict[str, Any]:
    """One order's base_row (the slow path, for features this module does not know)."""
    features = {name: values[i] for name, values in cols.features.items()}
    amount = float(cols.amount[i])
    features["amount"] = None if math.isnan(amount) else amount
    entered = datetime.fromtimestamp(float(cols.entered[i]), UTC)
    planned = None if math.isnan(cols.planned[i]) else date.fromordinal(int(cols.planned[i]) + _EPOCH_DAY)
    return base_row(cols.stage[i], entered, features, planned)


def feature_matrix(model: Foresight, cols: OpenColumns, elapsed: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """The encoder's matrix (names order) of the orders; elapsed hours and slack days given."""
    encoder = model.encoder
    names = encoder.names
    n = len(cols)
    if not set(names) <= KNOWN:
        rows = [_rows(cols, i) for i in range(n)]
        for row, e, s in zip(rows, elapsed.tolist(), slack.tolist(), strict=True):
            row["elapsed_hours"] = e
            row["slack_days"] = None if math.isnan(s) else s
        return encoder.matrix(rows)
    out = np.full((n, len(names)), np.nan, dtype=np.float64)
    days_entered = np.floor(cols.entered / 86400.0)
    amount = cols.amount
    with np.errstate(invalid="ignore", divide="ignore"):
        band = np.where(amount >= 1, np.floor(np.log10(np.where(amount >= 1, amount, 1.0))), 0.0)
    band[np.isnan(amount)] = np.nan
    numbers = {
        "amount_band": band,
        "weekday": (days_entered + 3) % 7,  # 1970-01-01 was a Thursday (weekday 3)
        "month": (days_entered.astype("int64").astype("datetime64[D]").astype("datetime64[M]").astype("int64")
                  % 12 + 1).astype(np.float64),
        "days_to_planned": cols.planned - days_entered,
        "elapsed_hours": elapsed,
        "slack_days": slack,
    }
    for j, name in enumerate(names):
        if name in numbers:
            out[:, j] = numbers[name]
        elif name == "stage":
            out[:, j] = _codes(encoder.vocab.get("stage", {}), cols.stage)
        else:
            values = cols.features.get(name)
            out[:, j] = 0.0 if values is None else _codes(encoder.vocab.get(name, {}), values)
    return out


def _remaining(stats: Any, elapsed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """StageStats.remaining over an array of elapsed hours."""
    p50, p90 = stats.p50, stats.p90
    rem50 = p50 - elapsed
    rem90 = np.maximum(p90 - elapsed, p50 - elapsed)
    late = ~(elapsed < p50 * 0.999)
    if late.any():
        sample = np.asarray(stats.sample, dtype=np.float64)
        m = len(sample)
        e = elapsed[late]
        start = np.searchsorted(sample, e, side="right")
        enough = (m - start) >= 2
        r50 = np.empty_like(e)
        r90 = np.empty_like(e)
        tail = max(p90 - p50, 1.0)
        r50[~enough] = min(tail * 0.5, 24.0)
        r90[~enough] = tail
        if enough.any():
            s = start[enough]
            for q, target in ((0.5, r50), (0.9, r90)):
                h = (m - s - 1) * q
                lo = s + np.floor(h).astype(np.int64)
                hi = np.minimum(lo + 1, m - 1)
                target[enough] = sample[lo] + (sample[hi] - sample[lo]) * (h - np.floor(h)) - e[enough]
        rem50[late] = r50
        rem90[late] = r90
    return rem50, rem90


def score_columns(model: Foresight, cols: OpenColumns, now: datetime) -> Scores:
    """The numbers `model.predict_many(orders, now)` gives, for orders as columns, without reasons."""
    n = len(cols)
    now_s = epoch_seconds(now)
    elapsed = np.maximum(0.0, (now_s - cols.entered) / 3600.0)
    stages = np.asarray(cols.stage, dtype=object)
    encoder = model.encoder
    nan = np.full(n, np.nan)
    typical, typical90 = nan.copy(), nan.copy()
    rem50, rem90 = nan.copy(), nan.copy()
    p90_hours, path50, spread2 = nan.copy(), nan.copy(), nan.copy()
    basis = np.zeros(n, dtype=np.int8)
    q50 = q90 = None
    # the categorical codes are looked up once: the classifier's matrix is the duration models'
    # with the hours in stage and the slack filled in (when every feature is built here)
    fast = encoder is not None and set(encoder.names) <= KNOWN and n
    base = feature_matrix(model, cols, elapsed, nan) if fast else None
    if model.q50 is not None and encoder is not None and n:
        matrix = base.copy() if base is not None else feature_matrix(model, cols, elapsed, nan)
        matrix[:, len(encoder.names) - 2] = np.nan  # as _predict: the duration models never saw elapsed/slack
        matrix[:, len(encoder.names) - 1] = np.nan
        q50 = np.clip(np.nan_to_num(np.expm1(model.q50.predict(matrix, num_threads=1)), nan=0.0), 0.0, MAX_HOURS)
        q90 = np.clip(np.maximum(np.nan_to_num(np.expm1(model.q90.predict(matrix, num_threads=1)), nan=0.0), q50),
                      0.0, MAX_HOURS)
    for stage in set(stages.tolist()):
        idx = np.flatnonzero(stages == stage)
        st = model.stats.stages.get(stage)
        known = encoder is not None and encoder.code("stage", stage) > 0
        e = elapsed[idx]
        if q50 is not None and known:
            basis[idx] = 2
            t, t90 = q50[idx], q90[idx]
            r50 = t - e
            r90 = np.maximum(t90 - e, t - e)
            long = ~(e < t)
            if long.any():
                if st is not None:
                    r50[long], r90[long] = _remaining(st, e[long])
                else:
                    gap = np.maximum(t90[long] - t[long], 1.0)
                    r50[long], r90[long] = np.minimum(gap * 0.5, 24.0), gap
            p90_hours[idx] = np.round(st.p90, 3) if st is not None else np.round(t90, 3)
        elif st is not None:
            basis[idx] = 1
            t, t90 = np.full(len(idx), st.p50), np.full(len(idx), st.p90)
            r50, r90 = _remaining(st, e)
            p90_hours[idx] = round(st.p90, 3)
        else:
            continue
        typical[idx], typical90[idx], rem50[idx], rem90[idx] = t, t90, r50, r90
        onwards = model._onwards(stage)
        if onwards is not None:
            path50[idx], spread2[idx] = onwards[1], onwards[2]
    stage_done = now_s + rem50 * 3600.0
    stage_done_p90 = now_s + rem90 * 3600.0
    completion = now_s + (rem50 + path50) * 3600.0
    completion_p90 = completion + np.sqrt((rem90 - rem50) ** 2 + spread2) * 3600.0
    planned_end = (cols.planned + 1.0) * 86400.0
    slack = (planned_end - completion) / 86400.0  # NaN without a plan or a completion
    shown = ~np.isnan(slack)
    prob = nan.copy()
    if model.clf is not None and encoder is not None and n:
        if base is not None:
            matrix = base
            if "slack_days" in encoder.names:
                matrix[:, encoder.names.index("slack_days")] = slack
        else:
            matrix = feature_matrix(model, cols, elapsed, slack)
        probs = model.clf.predict(matrix, num_threads=1)
        prob[shown] = probs[shown]
    elif model.late_table and shown.any():
        bins = np.searchsorted(np.asarray(SLACK_BINS), slack[shown], side="right")
        default = model.base_rate or 0.0
        prob[shown] = [float(model.late_table.get(int(b), default)) for b in bins.tolist()]
    return Scores(cols.order_id, basis, stage_done, stage_done_p90, completion, completion_p90,
                  np.array([round(p, 4) for p in prob.tolist()]) if n else prob, p90_hours)
