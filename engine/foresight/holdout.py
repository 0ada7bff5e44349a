"""Hold-out figures of a delay-risk score: AUC, Brier, precision at the riskiest 10%, reliability.

Pure; sklearn.metrics and sklearn.calibration do the arithmetic. AUC is None when the hold-out has
one class only (it is undefined then); the reliability curve has up to 10 bins of equal width.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score


def precision_at(labels: np.ndarray, scores: np.ndarray, share: float = 0.1) -> float | None:
    if len(labels) == 0:
        return None
    k = max(1, int(round(len(labels) * share)))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean())


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    labels = np.asarray(labels, dtype=float)
    scores = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    if len(labels) == 0:
        return {"n": 0, "auc": None, "brier": None, "precision_at_10": None, "base_rate": None, "reliability": []}
    both = 0 < labels.sum() < len(labels)
    result: dict[str, Any] = {
        "n": int(len(labels)),
        "base_rate": round(float(labels.mean()), 4),
        "auc": round(float(roc_auc_score(labels, scores)), 4) if both else None,
        "brier": round(float(brier_score_loss(labels, scores)), 4),
        "precision_at_10": None,
        "reliability": [],
    }
    p10 = precision_at(labels, scores)
    result["precision_at_10"] = None if p10 is None else round(p10, 4)
    if both:
        observed, predicted = calibration_curve(labels, scores, n_bins=10, strategy="uniform")
        result["reliability"] = [[round(float(p), 4), round(float(o), 4)] for p, o in zip(predicted, observed, strict=True)]
    return result
