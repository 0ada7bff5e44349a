"""Feature rows for the models: a bounded vocabulary per categorical feature, numbers as floats.

Pure. Categorical values are kept when seen at least `MIN_COUNT` times, at most `MAX_CATEGORIES`
per feature (the most frequent); the rest read as "other" (code 0). A feature whose raw column is
absent from every training order is dropped and reported (`missing`), never an error.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from engine.foresight.history import CATEGORICAL

MAX_CATEGORIES = 50
MIN_COUNT = 3
#: number features of a row (computed, always present)
NUMERIC: tuple[str, ...] = ("amount_band", "weekday", "month", "days_to_planned", "elapsed_hours", "slack_days")


def amount_band(amount: Any) -> float:
    """log10 bucket of the amount (0 for none / not positive): 1,000-9,999 -> 3."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        return float("nan")
    return float(math.floor(math.log10(value))) if value >= 1 else 0.0


@dataclass(frozen=True)
class Encoder:
    """Categorical feature -> value -> code (1..n); 0 is "other / unknown"."""

    categorical: tuple[str, ...]
    vocab: Mapping[str, Mapping[str, int]]
    numeric: tuple[str, ...] = NUMERIC

    @property
    def names(self) -> list[str]:
        return ["stage", *self.categorical, *self.numeric]

    def to_json(self) -> dict[str, Any]:
        return {"categorical": list(self.categorical), "vocab": {k: dict(v) for k, v in self.vocab.items()},
                "numeric": list(self.numeric)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Encoder:
        return cls(tuple(data["categorical"]), {k: dict(v) for k, v in data["vocab"].items()},
                   tuple(data.get("numeric", NUMERIC)))

    def code(self, feature: str, value: Any) -> int:
        if value is None:
            return 0
        return int(self.vocab.get(feature, {}).get(str(value), 0))

    def label(self, feature: str, code: int) -> str | None:
        for value, c in self.vocab.get(feature, {}).items():
            if c == code:
                return value
        return None

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """rows of {stage, <categorical raw>, <numeric>} -> float matrix in `names` order."""
        out = np.full((len(rows), len(self.names)), np.nan, dtype=np.float64)
        if not rows:
            return out
        # column by column (one dictionary per feature, no per-cell method call): the scoring hot loop
        for j, name in enumerate(("stage", *self.categorical)):
            vocab = self.vocab.get(name, {})
            out[:, j] = [0 if (v := row.get(name)) is None else vocab.get(str(v), 0) for row in rows]
        base = 1 + len(self.categorical)
        for j, name in enumerate(self.numeric):
            out[:, base + j] = [float(v) if isinstance(v := row.get(name), (int, float)) else np.nan for row in rows]
        return out


def fit_encoder(rows: Sequence[Mapping[str, Any]], stages: Sequence[str]) -> tuple[Encoder, list[str]]:
    """The vocabulary of the training rows, and the categorical features missing from all of them."""
    vocab: dict[str, dict[str, int]] = {"stage": {s: i for i, s in enumerate(sorted(set(stages)), start=1)}}
    kept: list[str] = []
    missing: list[str] = []
    for name in CATEGORICAL:
        counts = Counter(str(r[name]) for r in rows if r.get(name) not in (None, ""))
        if not counts:
            missing.append(name)
            continue
        common = [v for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= MIN_COUNT]
        vocab[name] = {v: i for i, v in enumerate(common[:MAX_CATEGORIES], start=1)}
        kept.append(name)
    return Encoder(tuple(kept), vocab), missing


def base_row(stage: str, entered_at: datetime, features: Mapping[str, Any], planned: date | None) -> dict[str, Any]:
    """The features known when `stage` is entered."""
    row: dict[str, Any] = {"stage": stage}
    for name in CATEGORICAL:
        row[name] = features.get(name)
    row["amount_band"] = amount_band(features.get("amount"))
    row["weekday"] = float(entered_at.weekday())
    row["month"] = float(entered_at.month)
    row["days_to_planned"] = float((planned - entered_at.date()).days) if planned else None
    return row
