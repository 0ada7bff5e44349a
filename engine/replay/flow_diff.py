"""Two flow replays side by side: paths that change, to-dos per assignee kind, step durations,
orders that would get stuck (engine/replay/flows.py makes the runs)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.replay.flows import FlowRun

__all__ = ["FlowDiff", "StepChange", "StepDurations", "compare_flows", "percentile"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0–100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(min(rank, len(ordered))) - 1]


@dataclass(frozen=True)
class StepChange:
    """A step reached by more or fewer orders in the changed version."""

    node_key: str
    now_reached: tuple[int, ...]  # orders that reach it only in the changed version
    now_skipped: tuple[int, ...]  # orders that reached it only in the current one


@dataclass(frozen=True)
class StepDurations:
    node_key: str
    count_before: int
    count_after: int
    median_before: float | None
    p90_before: float | None
    median_after: float | None
    p90_after: float | None
    estimated_after: int  # visits of the changed version whose waiting is estimated
    estimated_before: int


@dataclass(frozen=True)
class FlowDiff:
    orders: int
    changed_paths: tuple[int, ...]
    steps: tuple[StepChange, ...]
    todos_before: dict[str, int]
    todos_after: dict[str, int]
    durations: tuple[StepDurations, ...]
    total_before: tuple[float | None, float | None]  # median, p90 of start → end of completed runs
    total_after: tuple[float | None, float | None]
    outcomes_before: dict[str, int]
    outcomes_after: dict[str, int]
    stuck_after: tuple[tuple[int, str, str], ...]  # (order, step, reason)
    stuck_before: tuple[tuple[int, str, str], ...]
    estimated: dict[str, tuple[str, int, float, int]] = field(default_factory=dict)
    """step -> (basis, samples, seconds, orders) of the changed version's estimated waits."""


def compare_flows(before: FlowRun, after: FlowRun) -> FlowDiff:
    ids = [o for o in after.runs if o in before.runs]
    changed = tuple(sorted(o for o in ids if before.runs[o].path != after.runs[o].path))
    reached: dict[str, list[int]] = {}
    skipped: dict[str, list[int]] = {}
    for o in changed:
        old, new = set(before.runs[o].path), set(after.runs[o].path)
        for key in new - old:
            reached.setdefault(key, []).append(o)
        for key in old - new:
            skipped.setdefault(key, []).append(o)
    steps = tuple(StepChange(k, tuple(reached.get(k, ())), tuple(skipped.get(k, ())))
                  for k in sorted(set(reached) | set(skipped)))
    todos_before, todos_after = Counter(), Counter()
    durations_b: dict[str, list[float]] = {}
    durations_a: dict[str, list[float]] = {}
    est_a: Counter = Counter()
    est_b: Counter = Counter()
    estimated: dict[str, tuple[str, int, float, int]] = {}
    for o in ids:
        b, a = before.runs[o], after.runs[o]
        todos_before.update(b.todos)
        todos_after.update(a.todos)
        for key, values in b.durations.items():
            durations_b.setdefault(key, []).extend(values)
        for key, values in a.durations.items():
            durations_a.setdefault(key, []).extend(values)
        for e in b.estimated:
            est_b[e.node_key] += 1
        for e in a.estimated:
            est_a[e.node_key] += 1
            basis, samples, seconds, orders = estimated.get(e.node_key, (e.basis, e.samples, e.seconds, 0))
            estimated[e.node_key] = (basis, samples, seconds, orders + 1)
    durations = []
    for key in sorted(set(durations_b) | set(durations_a)):
        vb, va = durations_b.get(key, []), durations_a.get(key, [])
        durations.append(StepDurations(key, len(vb), len(va), percentile(vb, 50), percentile(vb, 90),
                                       percentile(va, 50), percentile(va, 90), est_a[key], est_b[key]))

    def total(run: FlowRun) -> tuple[float | None, float | None]:
        values = [run.runs[o].finished_seconds for o in ids if run.runs[o].finished_seconds is not None]
        return percentile(values, 50), percentile(values, 90)

    def stuck(run: FlowRun) -> tuple[tuple[int, str, str], ...]:
        return tuple((o, *run.runs[o].stuck) for o in ids if run.runs[o].stuck is not None)

    return FlowDiff(
        orders=len(ids), changed_paths=changed, steps=steps,
        todos_before=dict(todos_before), todos_after=dict(todos_after), durations=tuple(durations),
        total_before=total(before), total_after=total(after),
        outcomes_before=dict(Counter(before.runs[o].status for o in ids)),
        outcomes_after=dict(Counter(after.runs[o].status for o in ids)),
        stuck_after=stuck(after), stuck_before=stuck(before), estimated=estimated,
    )
