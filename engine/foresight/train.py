"""Training: learn stage durations and delay risk from closed orders, measured on a time hold-out.

Pure (no I/O; `progress` is a callback). Closed orders are split by when they ended: the oldest
`1 - holdout` train, the newest are the hold-out. On the training part we fit

- the fallback: per-stage median / p90 (always), and P(late) by slack bin;
- with at least `min_orders` closed orders: LightGBM quantile models (alpha 0.5 and 0.9) of
  log(1 + hours in stage) and a LightGBM classifier of "completes after the planned delivery day",
  from snapshots of each order at each stage entry and halfway through the stay.

On the hold-out both are scored (AUC, Brier, precision at the riskiest 10%, reliability curve,
p90 coverage of stage durations); the LightGBM model is kept only when its Brier score is not worse
than the fallback's. A live model, when given, is scored on the same hold-out: `better_than_live`
says whether the new one may replace it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from engine.foresight.explain import Reason
from engine.foresight.features import fit_encoder
from engine.foresight.history import (
    FINISH_STAGES,
    OpenOrder,
    OrderHistory,
    finish_at,
    planned_end,
    transitions,
    visits,
)
from engine.foresight.holdout import classification_metrics
from engine.foresight.model import Foresight, slack_bin
from engine.foresight.stats import build_stats

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainConfig:
    min_orders: int = 200  # closed orders below which no model is trained (fallback only)
    min_class: int = 10  # hold-out / training snapshots per class needed for the classifier
    holdout: float = 0.2
    rounds: int = 150
    num_leaves: int = 15
    min_data_in_leaf: int = 20
    learning_rate: float = 0.05
    seed: int = 7
    #: a new model replaces the live one unless its Brier is worse by more than this, or its AUC lower by more
    brier_tolerance: float = 0.002
    auc_tolerance: float = 0.01


@dataclass
class TrainOutcome:
    model: Foresight
    report: dict[str, Any] = field(default_factory=dict)
    better_than_live: bool = True


def _noop(_fraction: float, _step: str) -> None:
    return None


def _end_of(h: OrderHistory) -> datetime:
    return h.trace[-1][1]


def snapshots(histories: Sequence[OrderHistory], finish_stages: Sequence[str] = FINISH_STAGES
              ) -> list[tuple[OpenOrder, datetime, int]]:
    """(the order as it was, the moment, late 0/1) at each stage entry and halfway through each stay,
    for orders with a planned delivery that reached completion."""
    out: list[tuple[OpenOrder, datetime, int]] = []
    for h in histories:
        done = finish_at(h, finish_stages)
        if done is None or h.planned_delivery is None:
            continue
        late = int(done > planned_end(h.planned_delivery))
        trace = list(h.trace)
        for (stage, at), (_n, next_at) in zip(trace, trace[1:], strict=False):
            if stage in finish_stages or at >= done:
                break
            order = OpenOrder(h.order_id, stage, at, h.planned_delivery, h.features)
            out.append((order, at, late))
            out.append((order, at + (next_at - at) / 2, late))
    return out


def _late_table(model: Foresight, snaps: Sequence[tuple[OpenOrder, datetime, int]]) -> tuple[dict[int, float], float]:
    """P(late) per slack bin on the training snapshots (smoothed towards the base rate)."""
    if not snaps:
        return {}, 0.0
    base = sum(s[2] for s in snaps) / len(snaps)
    counts: dict[int, list[int]] = {}
    preds = model._predict([(o, t) for o, t, _ in snaps], explain=False)
    for (o, _t, late), p in zip(snaps, preds, strict=True):
        if p.completion_at is None:
            continue
        slack = (planned_end(o.planned_delivery) - p.completion_at).total_seconds() / 86400.0
        row = counts.setdefault(slack_bin(slack), [0, 0])
        row[0] += late
        row[1] += 1
    prior = 5.0
    return {b: (k + prior * base) / (n + prior) for b, (k, n) in counts.items()}, base


def _lgb_params(config: TrainConfig, **extra: Any) -> dict[str, Any]:
    return {"num_leaves": config.num_leaves, "min_data_in_leaf": config.min_data_in_leaf,
            "learning_rate": config.learning_rate, "seed": config.seed, "deterministic": True,
            "num_threads": 1, "verbose": -1, "force_col_wise": True, **extra}


def train(histories: Sequence[OrderHistory], *, now: datetime, config: TrainConfig = TrainConfig(),
          live: Foresight | None = None, progress: Progress = _noop) -> TrainOutcome:
    closed = sorted((h for h in histories if len(h.trace) >= 1), key=_end_of)
    report: dict[str, Any] = {"closed_orders": len(closed), "min_orders": config.min_orders,
                              "trained_at": now.isoformat()}
    if closed:
        report["period"] = [closed[0].trace[0][1].isoformat(), _end_of(closed[-1]).isoformat()]
    progress(0.05, "read")
    if not closed:
        stats = build_stats([], {})
        model = Foresight("fallback", stats, notes=(Reason("no_history"),))
        report.update(kind="fallback", notes=[r.to_json() for r in model.notes])
        return TrainOutcome(model, report, live is None)
    cut = len(closed) - max(1, int(len(closed) * config.holdout)) if len(closed) >= 10 and config.holdout > 0 \
        else len(closed)
    train_part, test_part = closed[:cut], closed[cut:]
    report.update(train_orders=len(train_part), holdout_orders=len(test_part))
    stats = build_stats(visits(train_part), transitions(train_part))
    notes: list[Reason] = []
    fallback = Foresight("fallback", stats)
    train_snaps = snapshots(train_part, stats.finish_stages)
    test_snaps = snapshots(test_part, stats.finish_stages)
    table, base = _late_table(fallback, train_snaps)
    fallback.late_table, fallback.base_rate = table, base
    report["base_rate"] = base
    progress(0.2, "stats")
    labels = np.array([s[2] for s in test_snaps], dtype=float)
    if train_snaps and (base == 0.0 or base == 1.0):
        notes.append(Reason("constant_target", {"late": base == 1.0}))
    report["fallback"] = _evaluate(fallback, test_snaps, labels, config)
    chosen = fallback
    if len(closed) < config.min_orders:
        notes.insert(0, Reason("fallback", {"closed": len(closed), "needed": config.min_orders}))
    else:
        try:
            candidate, extra = _fit_lightgbm(train_part, stats, train_snaps, config, progress)
        except _CannotFit as exc:
            notes.append(exc.reason)
            candidate, extra = None, {}
        if extra.get("missing"):
            notes.append(Reason("feature_missing", {"features": extra["missing"]}))
        if candidate is not None:
            candidate.late_table, candidate.base_rate = table, base
            progress(0.85, "evaluate")
            report["lightgbm"] = _evaluate(candidate, test_snaps, labels, config)
            report["lightgbm"]["importances"] = extra["importances"]
            report["lightgbm"]["durations"] = _duration_check(candidate, fallback, test_part)
            report["fallback"]["durations"] = _duration_check(fallback, fallback, test_part)
            if _not_worse(report["lightgbm"], report["fallback"], 0.0, math.inf):
                chosen = candidate
            else:
                notes.append(Reason("fallback_measured_better", {"model": report["lightgbm"].get("brier"),
                                                                 "fallback": report["fallback"].get("brier")}))
    chosen.notes = tuple(notes)
    report["kind"] = chosen.kind
    report["chosen"] = report["lightgbm" if chosen.kind == "lightgbm" else "fallback"]
    report["notes"] = [r.to_json() for r in notes]
    better = True
    if live is not None:
        report["live_on_holdout"] = _evaluate(live, test_snaps, labels, config)
        better = _not_worse(report["chosen"], report["live_on_holdout"], config.brier_tolerance, config.auc_tolerance)
    progress(1.0, "done")
    return TrainOutcome(chosen, report, better)


class _CannotFit(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.code)
        self.reason = reason


def _fit_lightgbm(train_part: Sequence[OrderHistory], stats: Any, train_snaps: Sequence[tuple[OpenOrder, datetime, int]],
                  config: TrainConfig, progress: Progress) -> tuple[Foresight, dict[str, Any]]:
    import lightgbm as lgb

    from engine.foresight.features import base_row

    stays = visits(train_part)
    rows = [base_row(v.stage, v.entered_at, v.features, v.planned_delivery) for v in stays]
    encoder, missing = fit_encoder(rows, [v.stage for v in stays])
    x = encoder.matrix(rows)
    y = np.log1p(np.array([v.hours for v in stays]))
    categorical = list(range(1 + len(encoder.categorical)))
    boosters = {}
    for i, alpha in enumerate((0.5, 0.9)):
        data = lgb.Dataset(x, y, categorical_feature=categorical, free_raw_data=False)
        boosters[alpha] = lgb.train(_lgb_params(config, objective="quantile", alpha=alpha), data,
                                    num_boost_round=config.rounds)
        progress(0.3 + 0.2 * (i + 1), f"durations p{int(alpha * 100)}")
    model = Foresight("lightgbm", stats, encoder=encoder, q50=boosters[0.5], q90=boosters[0.9])
    labels = np.array([s[2] for s in train_snaps])
    positives = int(labels.sum())
    if positives < config.min_class or len(labels) - positives < config.min_class:
        raise _CannotFit(Reason("constant_target", {"late": positives > 0}))
    # the classifier's rows: each snapshot with its elapsed time and slack as the duration models see it
    snap_rows: list[dict[str, Any]] = []
    preds = model._predict([(o, t) for o, t, _ in train_snaps], explain=False)
    for (o, t, _late), p in zip(train_snaps, preds, strict=True):
        row = base_row(o.stage, o.stage_entered_at, o.features, o.planned_delivery)
        row["elapsed_hours"] = (t - o.stage_entered_at).total_seconds() / 3600.0
        row["slack_days"] = (None if p.completion_at is None
                             else (planned_end(o.planned_delivery) - p.completion_at).total_seconds() / 86400.0)
        snap_rows.append(row)
    data = lgb.Dataset(encoder.matrix(snap_rows), labels, categorical_feature=categorical, free_raw_data=False)
    model.clf = lgb.train(_lgb_params(config, objective="binary"), data, num_boost_round=config.rounds)
    progress(0.8, "delay risk")
    gains = model.clf.feature_importance("gain")
    total = float(gains.sum()) or 1.0
    importances = sorted(((name, round(float(g) / total, 4)) for name, g in zip(encoder.names, gains, strict=True)),
                         key=lambda kv: -kv[1])
    return model, {"missing": missing, "importances": importances}


def _evaluate(model: Foresight, snaps: Sequence[tuple[OpenOrder, datetime, int]], labels: np.ndarray,
              config: TrainConfig) -> dict[str, Any]:
    if not snaps:
        return {"snapshots": 0}
    probs = model.late_probabilities([(o, t) for o, t, _ in snaps])
    ok = ~np.isnan(probs)
    result = classification_metrics(labels[ok], probs[ok])
    result["snapshots"] = int(ok.sum())
    return result


def _duration_check(model: Foresight, reference: Foresight, test_part: Sequence[OrderHistory]) -> dict[str, Any]:
    """On the hold-out's stays: median absolute error of the predicted stage end (hours, from entry)
    and the share of stays that ended before the predicted p90 (should be near 0.9)."""
    stays = visits(test_part)
    if not stays:
        return {}
    items = [(OpenOrder(v.order_id, v.stage, v.entered_at, v.planned_delivery, v.features), v.entered_at)
             for v in stays]
    preds = model._predict(items, explain=False)
    errors, covered, n = [], 0, 0
    for v, p in zip(stays, preds, strict=True):
        if p.stage_done_at is None:
            continue
        end = v.entered_at + timedelta(hours=v.hours)
        errors.append(abs((p.stage_done_at - end).total_seconds()) / 3600.0)
        covered += int(end <= p.stage_done_p90_at)
        n += 1
    if not n:
        return {}
    return {"stays": n, "median_abs_error_hours": round(float(np.median(errors)), 2),
            "p90_coverage": round(covered / n, 3)}


def _not_worse(new: Mapping[str, Any], old: Mapping[str, Any], brier_tol: float, auc_tol: float) -> bool:
    """Whether `new` is not worse than `old` on the hold-out (Brier first; AUC where both have one)."""
    if old.get("brier") is None:
        return True
    if new.get("brier") is None:
        return False
    if new["brier"] > old["brier"] + brier_tol:
        return False
    if new.get("auc") is not None and old.get("auc") is not None and new["auc"] < old["auc"] - auc_tol:
        return False
    return True
