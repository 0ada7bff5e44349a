"""A trained Foresight model and how it scores open orders (pure: `now` is an argument).

A model is the fallback statistics (engine/foresight/stats.py) plus, when there was enough history,
three LightGBM boosters: the 50% and 90% quantiles of log(1 + hours) a stage lasts, and a binary
classifier of "completes after the planned delivery day". It round-trips through JSON (boosters as
LightGBM's own model text), so the backend stores it in the database. Loading a damaged text raises
`ModelLoadError`; the caller then scores with the fallback and says so.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from engine.foresight.explain import Reason
from engine.foresight.features import Encoder, base_row
from engine.foresight.history import OpenOrder, planned_end
from engine.foresight.stats import GROUP_FEATURES, Stats

FORMAT = 1
MAX_HOURS = 24.0 * 365 * 5  # no stage is predicted to last longer than five years
GROUP_RATIO = 1.3  # a supplier / region / customer is named when its stays are this much longer than all
GROUP_REASONS = 2
DRIVER_MIN = 0.5  # drivers (TreeSHAP) are named for orders at least this risky, and above the base rate
#: fallback P(late) by slack (days between the planned delivery day's end and the predicted completion)
SLACK_BINS: tuple[float, ...] = (-7.0, -3.0, -1.0, 0.0, 1.0, 3.0, 7.0)


class ModelLoadError(ValueError):
    """The stored model text cannot be read (damaged, or from an unknown format)."""


def slack_bin(slack_days: float) -> int:
    return bisect_right(SLACK_BINS, slack_days)


@dataclass(frozen=True)
class Prediction:
    order_id: int
    basis: str  # model / fallback / none
    stage_done_at: datetime | None = None
    stage_done_p90_at: datetime | None = None
    completion_at: datetime | None = None
    completion_p90_at: datetime | None = None
    delay_probability: float | None = None
    stage_p90_hours: float | None = None
    reasons: tuple[Reason, ...] = ()


@dataclass
class Foresight:
    kind: str  # lightgbm / fallback
    stats: Stats
    late_table: Mapping[int, float] = field(default_factory=dict)  # slack bin -> P(late)
    base_rate: float | None = None
    encoder: Encoder | None = None
    q50: Any = None  # lightgbm.Booster
    q90: Any = None
    clf: Any = None
    notes: tuple[Reason, ...] = ()

    # --- persistence -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        def text(booster: Any) -> str | None:
            return booster.model_to_string() if booster is not None else None

        return {"format": FORMAT, "kind": self.kind, "stats": self.stats.to_json(),
                "late_table": {str(k): v for k, v in self.late_table.items()}, "base_rate": self.base_rate,
                "encoder": self.encoder.to_json() if self.encoder else None,
                "q50": text(self.q50), "q90": text(self.q90), "clf": text(self.clf),
                "notes": [r.to_json() for r in self.notes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Foresight:
        try:
            if data.get("format") != FORMAT:
                raise ModelLoadError(f"format {data.get('format')!r}")
            boosters = {}
            for name in ("q50", "q90", "clf"):
                boosters[name] = _booster(data.get(name))
            encoder = Encoder.from_json(data["encoder"]) if data.get("encoder") else None
            return cls(kind=str(data["kind"]), stats=Stats.from_json(data["stats"]),
                       late_table={int(k): float(v) for k, v in (data.get("late_table") or {}).items()},
                       base_rate=data.get("base_rate"), encoder=encoder, **boosters,
                       notes=tuple(Reason.from_json(r) for r in data.get("notes") or ()))
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage in the stored text is one error
            raise ModelLoadError(str(exc)[:200]) from exc

    def fallback(self) -> Foresight:
        """The same statistics without the boosters."""
        return Foresight("fallback", self.stats, self.late_table, self.base_rate, notes=self.notes)

    # --- scoring -----------------------------------------------------------------------------

    def predict_many(self, orders: Sequence[OpenOrder], now: datetime) -> list[Prediction]:
        return self._predict([(o, now) for o in orders], explain=True)

    def late_probabilities(self, snapshots: Sequence[tuple[OpenOrder, datetime]]) -> np.ndarray:
        """P(late) of orders seen at given moments (NaN where not scorable): the hold-out evaluation."""
        preds = self._predict(snapshots, explain=False)
        return np.array([np.nan if p.delay_probability is None else p.delay_probability for p in preds])

    def _predict(self, items: Sequence[tuple[OpenOrder, datetime]], *, explain: bool) -> list[Prediction]:
        rows = [base_row(o.stage, o.stage_entered_at, o.features, o.planned_delivery) for o, _ in items]
        elapsed = [max(0.0, (now - o.stage_entered_at).total_seconds() / 3600.0) for o, now in items]
        for row, e in zip(rows, elapsed, strict=True):
            row["elapsed_hours"] = e
        q50 = q90 = None
        if self.q50 is not None and self.encoder is not None and rows:
            matrix = self.encoder.matrix(rows)
            matrix[:, len(self.encoder.names) - 2] = np.nan  # duration models never saw elapsed/slack
            matrix[:, len(self.encoder.names) - 1] = np.nan
            # bounded: a wild prediction never becomes a date past the calendar (or a NaN)
            q50 = np.clip(np.nan_to_num(np.expm1(self.q50.predict(matrix, num_threads=1)), nan=0.0), 0.0, MAX_HOURS)
            q90 = np.clip(np.maximum(np.nan_to_num(np.expm1(self.q90.predict(matrix, num_threads=1)), nan=0.0), q50),
                          0.0, MAX_HOURS)
        partial: list[dict[str, Any]] = []
        for i, ((order, now), e) in enumerate(zip(items, elapsed, strict=True)):
            partial.append(self._durations(order, now, e, None if q50 is None else (float(q50[i]), float(q90[i]))))
        for row, part in zip(rows, partial, strict=True):
            row["slack_days"] = part.get("slack_days")
        probs = None
        contribs: dict[int, np.ndarray] = {}
        if self.clf is not None and self.encoder is not None and rows:
            matrix = self.encoder.matrix(rows)
            probs = self.clf.predict(matrix, num_threads=1)
            if explain:
                # what drives the risk, only where it is above the base rate and a probability will be
                # shown (a planned delivery and a predicted completion): TreeSHAP costs more than scoring
                shown = np.fromiter(((o.planned_delivery is not None and part.get("completion_at") is not None)
                                     for (o, _now), part in zip(items, partial, strict=True)), dtype=bool,
                                    count=len(items))
                risky = np.flatnonzero((probs >= max(self.base_rate or 0.0, DRIVER_MIN)) & shown)
                if len(risky):
                    values = self.clf.predict(matrix[risky], pred_contrib=True, num_threads=1)
                    contribs = {int(i): values[k] for k, i in enumerate(risky)}
        out: list[Prediction] = []
        for i, ((order, _now), part) in enumerate(zip(items, partial, strict=True)):
            prob = None
            if order.planned_delivery is not None and part.get("completion_at") is not None:
                if probs is not None:
                    prob = float(probs[i])
                elif self.late_table:
                    prob = float(self.late_table.get(slack_bin(part["slack_days"]), self.base_rate or 0.0))
            reasons: list[Reason] = []
            if explain:
                reasons = self._reasons(order, part, prob, rows[i], contribs.get(i))
            out.append(Prediction(
                order.order_id, part["basis"], part.get("stage_done_at"), part.get("stage_done_p90_at"),
                part.get("completion_at"), part.get("completion_p90_at"),
                None if prob is None else round(prob, 4), part.get("stage_p90_hours"), tuple(reasons)))
        return out

    def _durations(self, order: OpenOrder, now: datetime, elapsed: float,
                   model_q: tuple[float, float] | None) -> dict[str, Any]:
        stats = self.stats
        stage_stats = stats.stages.get(order.stage)
        known_stage = self.encoder is not None and self.encoder.code("stage", order.stage) > 0
        if model_q is not None and known_stage:
            basis = "model"
            typical, typical90 = model_q
            if elapsed < typical:
                rem50, rem90 = typical - elapsed, max(typical90 - elapsed, typical - elapsed)
            elif stage_stats is not None:
                rem50, rem90 = stage_stats.remaining(elapsed)
            else:
                rem50, rem90 = min(max(typical90 - typical, 1.0) * 0.5, 24.0), max(typical90 - typical, 1.0)
        elif stage_stats is not None:
            basis = "fallback"
            typical, typical90 = stage_stats.p50, stage_stats.p90
            rem50, rem90 = stage_stats.remaining(elapsed)
        else:
            return {"basis": "none", "elapsed": elapsed}
        part: dict[str, Any] = {
            "basis": basis, "elapsed": elapsed, "typical": typical, "typical90": typical90,
            "stage_done_at": now + timedelta(hours=rem50), "stage_done_p90_at": now + timedelta(hours=rem90),
            "stage_p90_hours": round(stage_stats.p90 if stage_stats is not None else typical90, 3),
        }
        onwards = self._onwards(order.stage)
        if onwards is None:
            return part
        path, path50, spread2 = onwards
        spread = math.sqrt((rem90 - rem50) ** 2 + spread2)
        completion = now + timedelta(hours=rem50 + path50)
        part.update(path=path, path_hours=path50, completion_at=completion,
                    completion_p90_at=completion + timedelta(hours=spread))
        if order.planned_delivery is not None:
            part["slack_days"] = (planned_end(order.planned_delivery) - completion).total_seconds() / 86400.0
        return part

    def _onwards(self, stage: str) -> tuple[list[str], float, float] | None:
        """(the usual stages after `stage` to completion, their summed median hours, summed squared
        spreads), None when the order is complete or the path to completion is unknown; per stage, cached."""
        cache = self.__dict__.setdefault("_onwards_cache", {})
        if stage not in cache:
            stats = self.stats
            if stage in stats.finish_stages or not stats.reaches_finish(stage):
                cache[stage] = None
            else:
                path = [s for s in stats.path_after(stage) if s in stats.stages]
                cache[stage] = (path, sum(stats.stages[s].p50 for s in path),
                                sum((stats.stages[s].p90 - stats.stages[s].p50) ** 2 for s in path))
        return cache[stage]

    def _reasons(self, order: OpenOrder, part: Mapping[str, Any], prob: float | None, row: Mapping[str, Any],
                 contrib: np.ndarray | None) -> list[Reason]:
        reasons: list[Reason] = list(self.notes)
        if part["basis"] == "none":
            reasons.append(Reason("no_stage_history", {"stage": order.stage}))
            return reasons
        days = round(part["elapsed"] / 24.0, 1)
        typical = round(part["typical"] / 24.0, 1)
        p90 = round(part["typical90"] / 24.0, 1)
        if part["elapsed"] > part["typical"]:
            reasons.append(Reason("stage_long", {"stage": order.stage, "days": days, "typical": typical, "p90": p90}))
        else:
            reasons.append(Reason("stage_typical", {"stage": order.stage, "days": days, "typical": typical}))
        reasons.extend(self._group_reasons(order, part["typical"]))
        if part.get("path"):
            reasons.append(Reason("path", {"stages": list(part["path"]), "days": round(part["path_hours"] / 24.0, 1)}))
        slack = part.get("slack_days")
        if slack is not None:
            if slack < 0:
                reasons.append(Reason("late_by", {"days": round(-slack, 1)}))
            else:
                reasons.append(Reason("spare", {"days": round(slack, 1)}))
        elif order.planned_delivery is None:
            reasons.append(Reason("no_planned", {}))
        if contrib is not None and self.encoder is not None and prob is not None:
            names = self.encoder.names
            ranked = sorted(range(len(names)), key=lambda j: -float(contrib[j]))
            for j in ranked[:2]:
                if float(contrib[j]) <= 0.05 or names[j] in ("slack_days", "days_to_planned", "elapsed_hours"):
                    continue
                value = row.get(names[j])
                reasons.append(Reason("driver", {"feature": names[j], "value": _shown(names[j], value)}))
        return reasons

    def _group_reasons(self, order: OpenOrder, typical_hours: float) -> list[Reason]:
        """The order's supplier / region / customer whose stays in this stage are typically much
        longer than all orders' (at most GROUP_REASONS, the slowest first)."""
        overall = self.stats.stages.get(order.stage)
        if overall is None or overall.p50 <= 0:
            return []
        found = []
        for feature in GROUP_FEATURES:
            value = order.features.get(feature)
            known = self.stats.group_typical(feature, value, order.stage)
            if known is not None and known[1] >= GROUP_RATIO * overall.p50:
                found.append((known[1] / overall.p50, feature, str(value), known[1]))
        found.sort(key=lambda f: -f[0])
        return [Reason("group_stage", {"feature": feature, "value": value, "stage": order.stage,
                                       "typical": round(hours / 24.0, 1), "overall": round(overall.p50 / 24.0, 1)})
                for _ratio, feature, value, hours in found[:GROUP_REASONS]]


def _shown(name: str, value: Any) -> Any:
    if isinstance(value, float) and name == "amount_band":
        return int(value)
    if isinstance(value, float) and name in ("weekday", "month"):
        return int(value) + (1 if name == "weekday" else 0)
    return value


def _booster(text: str | None) -> Any:
    if not text:
        return None
    import lightgbm  # imported lazily: scoring with the fallback needs no LightGBM

    try:
        return lightgbm.Booster(model_str=text)
    except Exception as exc:  # noqa: BLE001 - LightGBM raises its own error types for damaged text
        raise ModelLoadError(str(exc)[:200]) from exc
