"""Delay risk on real data: the Olist orders, late or not, asked at carrier hand-over (issue 14).

    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --shift
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --variant all
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --before 2017-11-01
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --validate
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --validate \
        --variants ensemble,c-ensemble,c-clf-small,c-transit,mono,c-ensemble-mono

Reads the Olist CSV files (orders, items, customers, products, sellers, payments) from --data
(default ../shared/datasets/olist, relative to the repository), keeps the orders handed to the
carrier and delivered, splits them by purchase time (oldest 70% train, newest 30% test), builds the
features of engine/foresight/olist.py (history rates from training-period orders only) and scores
the test period with two LightGBM models averaged on the log-odds scale (`ensemble`; the default
since the third pass, `c-ensemble`, is the same pair with the congestion features of
engine/foresight/congestion.py added — chosen on the validation folds, see the docs):

- `classifier`: late or not, on MODEL_FEATURES; early stopping and Platt scaling on the newest 20%
  of the training period, then a refit on the whole training period with that many trees;
- `transit`: a regression of log(transit days ÷ the mean transit of all orders delivered in the 14
  days before the hand-over) on TRANSIT_FEATURES, early-stopped on the same slice, whose residuals
  there give the spread; P(late) = P(transit > slack) (`late_from_transit`). Dividing by the
  carriers' recent transit lets the level follow the moment, which trees cannot extrapolate.

Optionally `--shift`s the probabilities to the late rate of the moment. Prints AUC, Brier,
precision@10% (against the base rate and against the slack-only heuristic), a reliability table
and the classifier's feature importances (gain). `--validate` instead scores every variant on four
rolling folds INSIDE the training period (each tenth of the last 40% of it, fitted on all training
orders before it): the choices in docs/foresight-evaluation.md were made there, never on the test
period. A benchmark, not a test; figures go to docs/foresight-evaluation.md.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

from engine.foresight import metrics
from engine.foresight.congestion import CONGESTION_FEATURES, Shipments, congestion_features
from engine.foresight.olist import (
    CATEGORICAL_FEATURES,
    FEATURES,
    OrderColumns,
    build_features,
    is_late,
    join_tables,
    labelled,
    late_from_transit,
    learn_history,
    recent_tables,
    slack_heuristic,
    time_split,
)

ROOT = Path(__file__).resolve().parents[1]
TABLES = {
    "orders": "olist_orders_dataset.csv", "items": "olist_order_items_dataset.csv",
    "customers": "olist_customers_dataset.csv", "products": "olist_products_dataset.csv",
    "sellers": "olist_sellers_dataset.csv", "payments": "olist_order_payments_dataset.csv",
}
PARAMS = {
    "objective": "binary", "learning_rate": 0.03, "num_leaves": 15, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 5.0,
    "cat_smooth": 20.0, "min_data_per_group": 50, "verbose": -1, "seed": 7, "num_threads": 1,
}
MAX_ROUNDS = 1500
# The model's features, chosen before looking at the test period: the hand-over clock (slack, margin
# over the route's usual transit, lags, the seller's hand-over against its limit), where it goes
# and how big it is, and the training-period on-time rates of the seller, the customer's state, the
# route and the category. Every feature of engine/foresight/olist.py is `--variant all`.
# `category` and `recent_margin_days` (slack − the customer state's transit of the last 21 days) were
# added after the rolling validation inside the training period (`--validate`, docs).
MODEL_FEATURES = (
    "slack_days", "margin_days", "handover_lag_days", "purchase_to_handover_days", "handover_vs_limit_days",
    "route_transit_days", "customer_state", "freight", "weight_kg", "seller_on_time", "customer_state_on_time",
    "route_on_time", "category_on_time", "category", "recent_margin_days",
)
# What the transit time depends on (not the slack: that is what the transit is compared with).
TRANSIT_FEATURES = (
    "route_transit_days", "customer_state", "seller_state", "category", "freight", "weight_kg", "handover_weekday",
    "handover_vs_limit_days", "distance_km", "customer_zip", "seller_zip", "route_on_time",
    "customer_state_on_time", "n_items",
)
VARIANTS = ("ensemble", "classifier", "transit", "all", "no-recent", "slack-only")
# Third pass (branch olist3): congestion at the hand-over (engine/foresight/congestion.py), each
# variant = (classifier features, transit features, what the transit target is divided by,
# monotone slack). Chosen on the rolling validation folds only (docs/foresight-evaluation.md).
CONGESTION_SMALL = ("backlog_share", "handover_ratio_3d", "slack_over_p50", "slack_over_p90")
TRANSIT_CONGESTION = TRANSIT_FEATURES + ("backlog_share", "fresh_backlog_share", "handover_ratio_3d",
                                         "handover_ratio_7d", "state_handover_ratio_7d")
SLACKISH = ("slack_days", "margin_days", "recent_margin_days", "slack_over_p50", "slack_over_p90")
CONGESTION_VARIANTS = {
    "c-clf": (MODEL_FEATURES + CONGESTION_FEATURES, None, "recent", False),
    "c-clf-small": (MODEL_FEATURES + CONGESTION_SMALL, None, "recent", False),
    "c-clf-mono": (MODEL_FEATURES + CONGESTION_SMALL, None, "recent", True),
    "mono": (MODEL_FEATURES, TRANSIT_FEATURES, "recent", True),
    "c-transit": (None, TRANSIT_CONGESTION, "recent", False),
    "c-transit-p50": (None, TRANSIT_FEATURES, "state_p50_14d", False),
    "c-transit-p50-30": (None, TRANSIT_FEATURES, "state_p50_30d", False),
    "c-ensemble": (MODEL_FEATURES + CONGESTION_SMALL, TRANSIT_CONGESTION, "recent", False),
    "c-ensemble-mono": (MODEL_FEATURES + CONGESTION_SMALL, TRANSIT_CONGESTION, "recent", True),
    "c-ensemble-b": (MODEL_FEATURES + CONGESTION_SMALL, TRANSIT_FEATURES, "recent", False),
    "c-ensemble-backlog": (MODEL_FEATURES + ("backlog_share",), TRANSIT_CONGESTION, "recent", False),
}
ALL_VARIANTS = VARIANTS + tuple(CONGESTION_VARIANTS)
WIDE = FEATURES + CONGESTION_FEATURES
SHIFT_WINDOW_DAYS = 21.0


def read_tables(folder: Path) -> dict[str, list[dict[str, str]]]:
    out = {}
    for name, file in TABLES.items():
        with (folder / file).open(encoding="utf-8-sig", newline="") as handle:
            out[name] = list(csv.DictReader(handle))
    return out


def load(folder: Path) -> OrderColumns:
    t = read_tables(folder)
    cols = join_tables(t["orders"], t["items"], t["customers"], t["products"], t["sellers"], t["payments"])
    return cols.take(np.flatnonzero(labelled(cols)))


def _dataset(x, y, used):
    cats = [used.index(c) for c in CATEGORICAL_FEATURES if c in used]
    return lgb.Dataset(x, label=y, feature_name=list(used), categorical_feature=cats, free_raw_data=False)


class Calibrated:
    """A LightGBM booster + Platt scaling on its raw logit (fitted on a later slice of training)."""

    def __init__(self, booster: lgb.Booster, platt: LogisticRegression | None):
        self.booster, self.platt = booster, platt

    def predict(self, x: np.ndarray) -> np.ndarray:
        raw = self.booster.predict(x, raw_score=True)
        if self.platt is None:
            return 1.0 / (1.0 + np.exp(-raw))
        return self.platt.predict_proba(raw.reshape(-1, 1))[:, 1]


def fit(x: np.ndarray, y: np.ndarray, used: list[str], calibrate: bool = True, params: dict | None = None
        ) -> tuple[Calibrated, int]:
    """Early stopping and Platt scaling on the newest 20% of the (time-ordered) training rows, then
    a refit of all training rows with the chosen number of trees."""
    params = {**PARAMS, **(params or {})}
    cut = int(len(y) * 0.8)
    inner = lgb.train(params, _dataset(x[:cut], y[:cut], used), MAX_ROUNDS,
                      valid_sets=[_dataset(x[cut:], y[cut:], used)],
                      callbacks=[lgb.early_stopping(100, verbose=False)])
    rounds = max(inner.best_iteration, 50)
    platt = None
    if calibrate:
        raw = inner.predict(x[cut:], num_iteration=rounds, raw_score=True)
        platt = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y[cut:])
    booster = lgb.train(params, _dataset(x, y, used), rounds)
    return Calibrated(booster, platt), rounds


class TransitModel:
    """LightGBM regression of log(transit ÷ recent transit), and the residuals of a held-out slice."""

    def __init__(self, booster: lgb.Booster, residuals: np.ndarray):
        self.booster, self.residuals = booster, residuals

    def predict(self, x: np.ndarray, recent_transit: np.ndarray, slack: np.ndarray) -> np.ndarray:
        return late_from_transit(self.booster.predict(x) + np.log(recent_transit), slack, self.residuals)


def fit_transit(x: np.ndarray, transit: np.ndarray, recent_transit: np.ndarray, used: list[str]
                ) -> tuple[TransitModel, int]:
    """Early stopping on the newest 20% of the (time-ordered) training rows, whose residuals are kept
    as the spread; then a refit of all training rows with the chosen number of trees."""
    params = {**PARAMS, "objective": "regression"}
    target = np.log(np.maximum(transit, 0.1)) - np.log(recent_transit)
    cut = int(len(target) * 0.8)
    inner = lgb.train(params, _dataset(x[:cut], target[:cut], used), 2000,
                      valid_sets=[_dataset(x[cut:], target[cut:], used)],
                      callbacks=[lgb.early_stopping(100, verbose=False)])
    rounds = max(inner.best_iteration, 50)
    residuals = target[cut:] - inner.predict(x[cut:], num_iteration=rounds)
    return TransitModel(lgb.train(params, _dataset(x, target, used), rounds), residuals), rounds


def shift_to_current_rate(p: np.ndarray, cols: OrderColumns, recent, train_rate: float) -> np.ndarray:
    """Label-shift correction: move each probability's log-odds by how far the late share of the
    orders due in the SHIFT_WINDOW_DAYS before its hand-over (known then: their due date has passed)
    is from the training period's late rate (smoothed with 20 pseudo-orders at that rate)."""
    n, late, _ = recent.due.counts(np.full(len(cols), "all", dtype=object), cols.carrier,
                                   since=cols.carrier - SHIFT_WINDOW_DAYS)
    current = (late + 20 * train_rate) / (n + 20)
    return 1.0 / (1.0 + np.exp(-(_logit(p) + _logit(current) - _logit(np.full(len(p), train_rate)))))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def congestion(cols: OrderColumns, scored: OrderColumns) -> np.ndarray:
    """The congestion features of `scored` at its hand-overs, from every shipment of `cols` (only
    what was known at each hand-over is counted: engine/foresight/congestion.py)."""
    shipments = Shipments(carrier=cols.carrier, delivered=cols.delivered, customer_state=cols.customer_state,
                          seller_state=cols.seller_state)
    return congestion_features(shipments, scored.carrier, scored.customer_state, scored.seller_state,
                               scored.estimated - scored.carrier)


def _monotone(used: list[str]) -> list[int]:
    """−1 (more slack never raises the risk) on the slack-like features, 0 elsewhere."""
    return [-1 if f in SLACKISH else 0 for f in used]


def predict(cols: OrderColumns, fit_idx: np.ndarray, score_idx: np.ndarray, variant: str,
            calibrate: bool = True) -> tuple[np.ndarray, dict]:
    """Fit on `fit_idx` (history rates from those orders only; `recent` and the congestion features
    from every order, counting only what was known at each hand-over) and return P(late) of
    `score_idx` and some facts."""
    fit_idx = fit_idx[np.argsort(cols.purchase[fit_idx], kind="stable")]
    fitted, scored = cols.take(fit_idx), cols.take(score_idx)
    history = learn_history(fitted)
    recent = recent_tables(cols) if variant != "no-recent" else None
    x_fit, x_score = build_features(fitted, history, recent), build_features(scored, history, recent)
    if variant in CONGESTION_VARIANTS:
        x_fit = np.column_stack([x_fit, congestion(cols, fitted)])
        x_score = np.column_stack([x_score, congestion(cols, scored)])
        clf_features, transit_features, divisor, mono = CONGESTION_VARIANTS[variant]
    else:
        clf_features = {"all": FEATURES, "no-recent": FEATURES, "slack-only": ("slack_days",),
                        "transit": None}.get(variant, MODEL_FEATURES)
        transit_features = TRANSIT_FEATURES if variant in ("ensemble", "transit") else None
        divisor, mono = "recent", False
    y_fit = is_late(fitted)
    facts: dict = {"x_score": x_score, "train_late_rate": float(y_fit.mean())}
    probs = []
    if clf_features is not None:
        used = list(clf_features)
        keep = [WIDE.index(f) for f in used]
        extra = None
        if mono:
            extra = {"monotone_constraints": _monotone(used), "monotone_constraints_method": "advanced"}
        model, rounds = fit(x_fit[:, keep], y_fit, used, calibrate=calibrate, params=extra)
        probs.append(model.predict(x_score[:, keep]))
        facts.update(rounds=rounds, importance=sorted(zip(used, model.booster.feature_importance("gain"),
                                                          strict=True), key=lambda kv: -kv[1]))
    if transit_features is not None:
        keep = [WIDE.index(f) for f in transit_features]
        mean_transit = float(np.nanmean(fitted.delivered - fitted.carrier))
        transit, rounds = fit_transit(x_fit[:, keep], fitted.delivered - fitted.carrier,
                                      _divisor(x_fit, divisor, mean_transit), list(transit_features))
        probs.append(transit.predict(x_score[:, keep], _divisor(x_score, divisor, mean_transit),
                                     scored.estimated - scored.carrier))
        facts["transit_rounds"] = rounds
    p = probs[0] if len(probs) == 1 else 1.0 / (1.0 + np.exp(-np.mean([_logit(q) for q in probs], axis=0)))
    return p, facts


def _divisor(x: np.ndarray, divisor: str, fallback: float) -> np.ndarray:
    """What the transit target is divided by: the mean transit of all orders delivered in the 14
    days before the hand-over (`recent`), or the customer state's median of the last 14 / 30 days."""
    column = {"recent": "recent_transit_days", "state_p50_14d": "state_transit_p50_14d",
              "state_p50_30d": "state_transit_p50_30d"}[divisor]
    v = x[:, WIDE.index(column)] if x.shape[1] == len(WIDE) else x[:, FEATURES.index(column)]
    return np.where(np.isnan(v) | (v <= 0), fallback, v)


def evaluate(folder: Path, variant: str = "c-ensemble", calibrate: bool = True, shift: bool = False,
             quiet: bool = False, before: str | None = None) -> dict:
    started = time.perf_counter()
    cols = load(folder)
    if before:  # a check on quieter months: only the orders bought before that day
        cols = cols.take(np.flatnonzero(cols.purchase < np.datetime64(before, "D").astype("int64")))
    train_idx, test_idx = time_split(cols.purchase, 0.7)
    train, test = cols.take(train_idx), cols.take(test_idx)
    p, facts = predict(cols, train_idx, test_idx, variant, calibrate)
    y_test = is_late(test)
    if shift:
        p = shift_to_current_rate(p, test, recent_tables(cols), facts["train_late_rate"])
    heuristic = slack_heuristic(facts["x_score"])
    base = float(y_test.mean())
    result = {
        "variant": variant, "calibrated": calibrate, "shift": shift, "orders": len(cols), "train": len(train), "test": len(test),
        "train_period": (_day(train.purchase.min()), _day(train.purchase.max())),
        "test_period": (_day(test.purchase.min()), _day(test.purchase.max())),
        "train_late_rate": facts["train_late_rate"], "base_rate": base, "rounds": facts.get("rounds"),
        "transit_rounds": facts.get("transit_rounds"),
        "auc": metrics.auc(y_test, p), "brier": metrics.brier(y_test, p),
        "brier_base_rate": metrics.brier(y_test, np.full(len(y_test), base)),
        "p_at_10": metrics.precision_at(y_test, p, 0.1),
        "heuristic_auc": metrics.auc(y_test, heuristic), "heuristic_p_at_10": metrics.precision_at(y_test, heuristic, 0.1),
        "ece": metrics.expected_calibration_error(y_test, p), "reliability": metrics.reliability(y_test, p, 10),
        "importance": facts.get("importance", []),
        "seconds": time.perf_counter() - started,
    }
    if not quiet:
        report(result)
    return result


def validation_folds(purchase: np.ndarray, train_idx: np.ndarray, folds: int = 4, span: float = 0.1
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling folds inside the training period: each of its last `folds` × `span` slices, fitted on
    every training order bought before it."""
    ordered = train_idx[np.argsort(purchase[train_idx], kind="stable")]
    m, out = len(ordered), []
    for j in range(folds, 0, -1):
        lo, hi = int(m * (1 - span * j)), int(m * (1 - span * (j - 1)))
        out.append((ordered[:lo], ordered[lo:hi]))
    return out


def validate(folder: Path, variants: tuple[str, ...] = VARIANTS) -> dict[str, dict[str, float]]:
    """Each variant's mean AUC, Brier, lift at 10% and ECE over the rolling folds (no test order is read)."""
    cols = load(folder)
    train_idx, _test_idx = time_split(cols.purchase, 0.7)
    folds = validation_folds(cols.purchase, train_idx)
    print(f"Rolling validation inside the training period ({len(train_idx):,} orders), {len(folds)} folds:")
    for fit_idx, val_idx in folds:
        print(f"  fit {len(fit_idx):,} orders, validate {len(val_idx):,} bought {_day(cols.purchase[val_idx].min())}.."
              f"{_day(cols.purchase[val_idx].max())} (late {is_late(cols.take(val_idx)).mean():.1%})")
    out = {}
    for variant in variants:
        scores = []
        for fit_idx, val_idx in folds:
            p, _ = predict(cols, fit_idx, val_idx, variant)
            y = is_late(cols.take(val_idx))
            scores.append((metrics.auc(y, p), metrics.brier(y, p), metrics.precision_at(y, p, 0.1) / y.mean(),
                           metrics.expected_calibration_error(y, p)))
        auc, brier, lift, ece = (float(v) for v in np.mean(scores, axis=0))
        out[variant] = {"auc": auc, "brier": brier, "lift": lift, "ece": ece}
        print(f"  {variant:12s} AUC {auc:.3f}  Brier {brier:.4f}  precision@10% {lift:.2f}x  ECE {ece:.3f}"
              f"   (folds: AUC {' '.join(f'{s[0]:.3f}' for s in scores)};"
              f" Brier {' '.join(f'{s[1]:.4f}' for s in scores)})")
    return out


def _day(days: float) -> str:
    return str(np.datetime64(int(days), "D"))


def report(r: dict) -> None:
    print(f"Olist delay risk at carrier hand-over — variant {r['variant']}, calibrated={r['calibrated']},"
          f" shifted to the current late rate={r['shift']}")
    print(f"  machine {platform.node()} {platform.processor() or platform.machine()}, python {sys.version.split()[0]},"
          f" lightgbm {lgb.__version__}")
    print(f"  orders {r['orders']:,} (handed over and delivered): train {r['train']:,} {r['train_period'][0]}.."
          f"{r['train_period'][1]} (late {r['train_late_rate']:.1%}), test {r['test']:,} {r['test_period'][0]}.."
          f"{r['test_period'][1]} (late {r['base_rate']:.1%})")
    print(f"  trees: classifier {r['rounds']}, transit {r['transit_rounds']}; run {r['seconds']:.1f} s")
    print(f"  AUC            {r['auc']:.3f}   (slack-only heuristic {r['heuristic_auc']:.3f})")
    print(f"  Brier          {r['brier']:.4f}  (predicting the test base rate {r['brier_base_rate']:.4f})")
    print(f"  precision@10%  {r['p_at_10']:.3f} = {r['p_at_10'] / r['base_rate']:.2f}x base rate {r['base_rate']:.3f}"
          f"   (slack heuristic {r['heuristic_p_at_10']:.3f} = {r['heuristic_p_at_10'] / r['base_rate']:.2f}x)")
    print(f"  calibration error (ECE, 10 quantile bins) {r['ece']:.4f}")
    print("  reliability (quantile bins): predicted -> observed (orders)")
    for b in r["reliability"]:
        print(f"    {b.lower:.3f}-{b.upper:.3f}  {b.mean_predicted:.3f} -> {b.observed_rate:.3f}  ({b.count})")
    total = sum(g for _, g in r["importance"]) or 1.0
    print("  classifier feature importance (gain share)")
    for name, gain in r["importance"]:
        print(f"    {name:28s} {gain / total:6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "datasets" / "olist"))
    parser.add_argument("--variant", choices=ALL_VARIANTS, default="c-ensemble",
                        help="c-ensemble (default): ensemble + congestion features (CONGESTION_VARIANTS); "
                             "ensemble: classifier and transit model averaged on the log-odds; classifier: "
                             "LightGBM on MODEL_FEATURES; transit: the transit-time model alone; all: the classifier "
                             "on every feature; no-recent: every feature but the recent_* ones NaN; slack-only: "
                             "LightGBM on slack alone")
    parser.add_argument("--no-calibration", action="store_true", help="no Platt scaling")
    parser.add_argument("--shift", action="store_true", help="label-shift correction to the current late rate")
    parser.add_argument("--validate", action="store_true",
                        help="score every variant on rolling folds inside the training period, not the test")
    parser.add_argument("--variants", help="with --validate: a comma-separated list (default: the first six)")
    parser.add_argument("--before", help="only orders bought before this day (YYYY-MM-DD), then the same split")
    args = parser.parse_args(argv)
    folder = Path(args.data)
    if not (folder / TABLES["orders"]).is_file():
        print(f"no {TABLES['orders']} in {folder} (pass --data <folder of the Olist CSV files>)", file=sys.stderr)
        return 2
    if args.validate:
        validate(folder, tuple(args.variants.split(",")) if args.variants else VARIANTS)
        return 0
    evaluate(folder, args.variant, calibrate=not args.no_calibration, shift=args.shift, before=args.before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
