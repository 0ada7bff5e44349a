"""The fallback: per-stage medians and p90s of how long orders stayed, and the usual path onwards.

Pure. Used alone when there is too little history for a model, and always for the stages after the
current one (the usual path to completion). A stay is kept as a bounded, evenly thinned sample of
durations so the remaining time of an order already long in a stage can be read off the orders that
stayed at least as long (conditional median / p90).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.foresight.history import FINISH_STAGES, Visit

SAMPLE = 400  # durations kept per stage
MIN_STAGE_VISITS = 3  # fewer: the stage has no typical duration
MAX_PATH = 12
#: features whose values get their own typical stay per stage (the explanations' "supplier X:
#: production typically 23 days"); per feature the GROUP_VALUES most frequent values, per value the
#: stages with at least GROUP_MIN_VISITS stays
GROUP_FEATURES: tuple[str, ...] = ("supplier", "region", "customer")
GROUP_VALUES = 50
GROUP_MIN_VISITS = 5


def _sorted_quantile(ordered: Sequence[float], start: int, q: float) -> float:
    """quantile(ordered[start:], q) of an already sorted sequence, without copying it."""
    h = (len(ordered) - start - 1) * q
    lo = start + math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (h - math.floor(h))


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (h - lo)


@dataclass(frozen=True)
class StageStats:
    count: int
    p50: float  # hours
    p90: float
    sample: tuple[float, ...]  # sorted

    def remaining(self, elapsed: float) -> tuple[float, float]:
        """(median, p90) hours still to go after `elapsed` hours in the stage."""
        if elapsed < self.p50 * 0.999:
            return self.p50 - elapsed, max(self.p90 - elapsed, self.p50 - elapsed)
        start = bisect_right(self.sample, elapsed)  # the sample is sorted: the stays longer than `elapsed`
        if len(self.sample) - start >= 2:
            return (_sorted_quantile(self.sample, start, 0.5) - elapsed,
                    _sorted_quantile(self.sample, start, 0.9) - elapsed)
        # longer than any order seen: say "soon" with a p90 as long as the stage's spread
        tail = max(self.p90 - self.p50, 1.0)
        return min(tail * 0.5, 24.0), tail


@dataclass(frozen=True)
class Stats:
    stages: Mapping[str, StageStats]
    next_stage: Mapping[str, str]
    finish_stages: tuple[str, ...] = FINISH_STAGES
    #: feature -> value -> stage -> (stays, median hours): see GROUP_FEATURES
    groups: Mapping[str, Mapping[str, Mapping[str, tuple[int, float]]]] = field(default_factory=dict)

    def group_typical(self, feature: str, value: Any, stage: str) -> tuple[int, float] | None:
        """(stays, median hours) of `stage` for orders whose `feature` is `value`, when known."""
        if value is None:
            return None
        return self.groups.get(feature, {}).get(str(value), {}).get(stage)

    def path_after(self, stage: str) -> list[str]:
        """The usual stages after `stage` up to completion (exclusive), bounded."""
        path: list[str] = []
        current = stage
        for _ in range(MAX_PATH):
            nxt = self.next_stage.get(current)
            if nxt is None or nxt in self.finish_stages or nxt in path or nxt == stage:
                break
            path.append(nxt)
            current = nxt
        return path

    def reaches_finish(self, stage: str) -> bool:
        current = stage
        seen = {stage}
        for _ in range(MAX_PATH + 1):
            nxt = self.next_stage.get(current)
            if nxt is None:
                return False
            if nxt in self.finish_stages:
                return True
            if nxt in seen:
                return False
            seen.add(nxt)
            current = nxt
        return False

    def to_json(self) -> dict[str, Any]:
        return {"stages": {k: {"count": v.count, "p50": v.p50, "p90": v.p90, "sample": list(v.sample)}
                           for k, v in self.stages.items()},
                "next_stage": dict(self.next_stage), "finish_stages": list(self.finish_stages),
                "groups": {f: {v: {st: list(x) for st, x in by_stage.items()} for v, by_stage in values.items()}
                           for f, values in self.groups.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stats:
        stages = {k: StageStats(int(v["count"]), float(v["p50"]), float(v["p90"]), tuple(map(float, v["sample"])))
                  for k, v in data["stages"].items()}
        groups = {str(f): {str(v): {str(st): (int(x[0]), float(x[1])) for st, x in by_stage.items()}
                           for v, by_stage in values.items()}
                  for f, values in (data.get("groups") or {}).items()}
        return cls(stages, dict(data["next_stage"]), tuple(data.get("finish_stages", FINISH_STAGES)), groups)


def build_stats(visits: Sequence[Visit], transitions: Mapping[str, Mapping[str, int]],
                finish_stages: Sequence[str] = FINISH_STAGES) -> Stats:
    by_stage: dict[str, list[float]] = {}
    for v in visits:
        by_stage.setdefault(v.stage, []).append(v.hours)
    stages: dict[str, StageStats] = {}
    for stage, hours in by_stage.items():
        if len(hours) < MIN_STAGE_VISITS:
            continue
        ordered = sorted(hours)
        step = max(1, len(ordered) // SAMPLE)
        stages[stage] = StageStats(len(ordered), quantile(ordered, 0.5), quantile(ordered, 0.9),
                                   tuple(ordered[::step][:SAMPLE]))
    next_stage = {a: max(sorted(row), key=lambda b: row[b]) for a, row in transitions.items() if row}
    return Stats(stages, next_stage, tuple(finish_stages), group_stats(visits))


def group_stats(visits: Sequence[Visit]) -> dict[str, dict[str, dict[str, tuple[int, float]]]]:
    """feature -> value -> stage -> (stays, median hours), bounded as GROUP_FEATURES says."""
    out: dict[str, dict[str, dict[str, tuple[int, float]]]] = {}
    for feature in GROUP_FEATURES:
        hours: dict[str, dict[str, list[float]]] = {}
        for v in visits:
            value = v.features.get(feature)
            if value is None or value == "":
                continue
            hours.setdefault(str(value), {}).setdefault(v.stage, []).append(v.hours)
        biggest = sorted(hours, key=lambda value: (-sum(map(len, hours[value].values())), value))[:GROUP_VALUES]
        kept = {value: {stage: (len(h), quantile(h, 0.5)) for stage, h in hours[value].items()
                        if len(h) >= GROUP_MIN_VISITS} for value in biggest}
        kept = {value: by_stage for value, by_stage in kept.items() if by_stage}
        if kept:
            out[feature] = kept
    return out
