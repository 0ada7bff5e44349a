"""How good a delay-risk score is: AUC, Brier score, precision among the riskiest k%, reliability bins.

Pure numpy (scikit-learn's roc_auc_score and brier_score_loss agree; tests/engine/foresight check
that). `y` is 0/1 (1 = late), `p` a probability (or, for AUC and precision_at, any score where
higher = riskier).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("y and p must be 1-d arrays of the same length")
    return y, p


def auc(y, score) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN when only one class is present."""
    y, score = _arrays(y, score)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    sorted_score = score[order]
    ranks = np.empty(len(score))
    # average ranks over ties
    _, first, counts = np.unique(sorted_score, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def brier(y, p) -> float:
    """Mean squared error of the probability against the 0/1 outcome (lower is better)."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def precision_at(y, score, fraction: float = 0.1) -> float:
    """Share of positives among the `fraction` highest-scored rows (at least one row; ties by order)."""
    y, score = _arrays(y, score)
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    if not len(y):
        return float("nan")
    k = max(1, int(round(len(y) * fraction)))
    top = np.argsort(-score, kind="mergesort")[:k]
    return float(y[top].mean())


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


def reliability(y, p, bins: int = 10, strategy: str = "quantile") -> list[ReliabilityBin]:
    """Predicted vs observed per bin ('quantile': equal-count bins; 'uniform': equal-width on [0, 1]).
    Empty bins are left out. Calibrated = mean_predicted ≈ observed_rate in every bin."""
    y, p = _arrays(y, p)
    if not len(y):
        return []
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    else:
        raise ValueError("strategy must be 'quantile' or 'uniform'")
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(len(edges) - 1):
        mask = which == b
        if mask.any():
            out.append(ReliabilityBin(lower=float(edges[b]), upper=float(edges[b + 1]), count=int(mask.sum()),
                                      mean_predicted=float(p[mask].mean()), observed_rate=float(y[mask].mean())))
    return out


def expected_calibration_error(y, p, bins: int = 10) -> float:
    """Count-weighted mean |predicted − observed| over the quantile reliability bins."""
    table = reliability(y, p, bins=bins)
    total = sum(b.count for b in table)
    return sum(b.count * abs(b.mean_predicted - b.observed_rate) for b in table) / total if total else float("nan")
