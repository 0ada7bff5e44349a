"""Delay risk on real data: the Olist orders, late or not, asked at carrier hand-over (issue 14).

    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --shift
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --variant all
    .venv/bin/python -m bench.foresight_olist --data ../shared/datasets/olist --before 2017-11-01

Reads the Olist CSV files (orders, items, customers, products, sellers, payments) from --data
(default ../shared/datasets/olist, relative to the repository), keeps the orders handed to the
carrier and delivered, splits them by purchase time (oldest 70% train, newest 30% test), builds the
features of engine/foresight/olist.py (history rates from training-period orders only), fits
LightGBM on the older 80% of the training period, calibrates it (Platt scaling on the logit) on the
newest 20% of the training period, refits on the whole training period with the same number of
trees (optionally `--shift`s the probabilities to the late rate of the moment), and prints AUC, Brier, precision@10% (against the base rate and against the slack-only
heuristic), a reliability table and the feature importances (gain). A benchmark, not a test;
figures go to docs/foresight-evaluation.md.
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
from engine.foresight.olist import (
    CATEGORICAL_FEATURES,
    FEATURES,
    OrderColumns,
    build_features,
    is_late,
    join_tables,
    labelled,
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
MODEL_FEATURES = (
    "slack_days", "margin_days", "handover_lag_days", "purchase_to_handover_days", "handover_vs_limit_days",
    "route_transit_days", "customer_state", "freight", "weight_kg", "seller_on_time", "customer_state_on_time",
    "route_on_time", "category_on_time",
)
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


def evaluate(folder: Path, variant: str = "model", calibrate: bool = True, shift: bool = False,
             quiet: bool = False, before: str | None = None) -> dict:
    started = time.perf_counter()
    cols = load(folder)
    if before:  # a check on quieter months: only the orders bought before that day
        cols = cols.take(np.flatnonzero(cols.purchase < np.datetime64(before, "D").astype("int64")))
    train_idx, test_idx = time_split(cols.purchase, 0.7)
    train_idx = train_idx[np.argsort(cols.purchase[train_idx], kind="stable")]
    train, test = cols.take(train_idx), cols.take(test_idx)
    history = learn_history(train)
    recent = recent_tables(cols) if variant != "no-recent" else None
    x_train, x_test = build_features(train, history, recent), build_features(test, history, recent)
    y_train, y_test = is_late(train), is_late(test)
    used = {"all": list(FEATURES), "no-recent": list(FEATURES), "slack-only": ["slack_days"]}.get(
        variant, list(MODEL_FEATURES))
    keep = [FEATURES.index(f) for f in used]
    model, rounds = fit(x_train[:, keep], y_train, used, calibrate=calibrate)
    p = model.predict(x_test[:, keep])
    if shift:
        p = shift_to_current_rate(p, test, recent or recent_tables(cols), float(y_train.mean()))
    heuristic = slack_heuristic(x_test)
    base = float(y_test.mean())
    result = {
        "variant": variant, "calibrated": calibrate, "shift": shift, "orders": len(cols), "train": len(train), "test": len(test),
        "train_period": (_day(train.purchase.min()), _day(train.purchase.max())),
        "test_period": (_day(test.purchase.min()), _day(test.purchase.max())),
        "train_late_rate": float(y_train.mean()), "base_rate": base, "rounds": rounds,
        "auc": metrics.auc(y_test, p), "brier": metrics.brier(y_test, p),
        "brier_base_rate": metrics.brier(y_test, np.full(len(y_test), base)),
        "p_at_10": metrics.precision_at(y_test, p, 0.1),
        "heuristic_auc": metrics.auc(y_test, heuristic), "heuristic_p_at_10": metrics.precision_at(y_test, heuristic, 0.1),
        "ece": metrics.expected_calibration_error(y_test, p), "reliability": metrics.reliability(y_test, p, 10),
        "importance": sorted(zip(used, model.booster.feature_importance("gain"), strict=True), key=lambda kv: -kv[1]),
        "seconds": time.perf_counter() - started,
    }
    if not quiet:
        report(result)
    return result


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
    print(f"  trees {r['rounds']}, run {r['seconds']:.1f} s")
    print(f"  AUC            {r['auc']:.3f}   (slack-only heuristic {r['heuristic_auc']:.3f})")
    print(f"  Brier          {r['brier']:.4f}  (predicting the test base rate {r['brier_base_rate']:.4f})")
    print(f"  precision@10%  {r['p_at_10']:.3f} = {r['p_at_10'] / r['base_rate']:.2f}x base rate {r['base_rate']:.3f}"
          f"   (slack heuristic {r['heuristic_p_at_10']:.3f} = {r['heuristic_p_at_10'] / r['base_rate']:.2f}x)")
    print(f"  calibration error (ECE, 10 quantile bins) {r['ece']:.4f}")
    print("  reliability (quantile bins): predicted -> observed (orders)")
    for b in r["reliability"]:
        print(f"    {b.lower:.3f}-{b.upper:.3f}  {b.mean_predicted:.3f} -> {b.observed_rate:.3f}  ({b.count})")
    total = sum(g for _, g in r["importance"]) or 1.0
    print("  feature importance (gain share)")
    for name, gain in r["importance"]:
        print(f"    {name:28s} {gain / total:6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "datasets" / "olist"))
    parser.add_argument("--variant", choices=["model", "all", "no-recent", "slack-only"], default="model",
                        help="model: MODEL_FEATURES; all: every feature; no-recent: every feature but the "
                             "recent_* ones NaN; slack-only: LightGBM on slack alone")
    parser.add_argument("--no-calibration", action="store_true", help="no Platt scaling")
    parser.add_argument("--shift", action="store_true", help="label-shift correction to the current late rate")
    parser.add_argument("--before", help="only orders bought before this day (YYYY-MM-DD), then the same split")
    args = parser.parse_args(argv)
    folder = Path(args.data)
    if not (folder / TABLES["orders"]).is_file():
        print(f"no {TABLES['orders']} in {folder} (pass --data <folder of the Olist CSV files>)", file=sys.stderr)
        return 2
    evaluate(folder, args.variant, calibrate=not args.no_calibration, shift=args.shift, before=args.before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
