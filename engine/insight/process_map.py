"""The real process map: how orders actually travelled, beside the flow as drawn.

Pure (no I/O): from per-order ordered lists of (stage, entered_at) build the directly-follows
graph (DFG) with networkx: a node per stage with the number of times it was entered, an edge a→b
whenever an order entered b straight after a, with the count and the median and p90 of the wait
in a (entered b − entered a). Compared with the drawn flow (a stage order plus the stage-to-stage
edges drawn), an edge is:

- "drawn"  — the drawing has it;
- "loop"   — not drawn and it goes backwards (or to itself) in the drawn order: rework;
- "skip"   — not drawn and it jumps forwards over at least one drawn stage;
- "other"  — not drawn, with a stage the drawing does not know.

Bottlenecks: edges whose p90 wait is at least `BOTTLENECK_FACTOR` × the median of all edges' p90
waits, the `BOTTLENECK_TOP` longest of them (so one slow edge among fast ones is flagged, and a
map where every edge is equally slow flags none).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import networkx as nx

from engine.flows.definition import FlowDefinition

BOTTLENECK_FACTOR = 2.0
BOTTLENECK_TOP = 3

Trace = Sequence[tuple[str, datetime]]


@dataclass(frozen=True)
class DrawnFlow:
    """The flow as drawn, reduced to stages: their left-to-right order and the stage edges."""

    order: tuple[str, ...]
    edges: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class MapNode:
    stage: str
    count: int
    position: int  # left-to-right slot
    drawn: bool


@dataclass(frozen=True)
class MapEdge:
    source: str
    target: str
    count: int
    median_s: float
    p90_s: float
    kind: str  # drawn / loop / skip / other
    bottleneck: bool

    @property
    def drawn(self) -> bool:
        return self.kind == "drawn"


@dataclass(frozen=True)
class ProcessMap:
    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]
    orders: int


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default): q=0.5 is the median."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def chain(stages: Iterable[str]) -> DrawnFlow:
    """A drawn flow that is a straight line through the stages (the default stage order)."""
    order = tuple(dict.fromkeys(stages))
    return DrawnFlow(order=order, edges=frozenset(zip(order, order[1:], strict=False)))


def drawn_from_flow(defn: FlowDefinition) -> DrawnFlow:
    """Stage edges of a flow: a stage node reaches the next stage nodes through any nodes that set
    no stage (gateways, notifications, waits). Order: the stage nodes in breadth-first order from start."""
    g = nx.DiGraph()
    g.add_nodes_from(n.key for n in defn.nodes)
    g.add_edges_from((e.source, e.target) for e in defn.edges)
    stage_of = {n.key: n.stage for n in defn.nodes if getattr(n, "stage", None)}
    starts = [n.key for n in defn.nodes if n.type == "start"] or [n.key for n in defn.nodes[:1]]
    order: list[str] = []
    for start in starts:
        for key in [start, *(v for _, v in nx.bfs_edges(g, start))]:
            if key in stage_of and stage_of[key] not in order:
                order.append(stage_of[key])
    edges: set[tuple[str, str]] = set()
    for key, stage in stage_of.items():
        seen, todo = {key}, list(g.successors(key))
        while todo:
            nxt = todo.pop()
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in stage_of:
                edges.add((stage, stage_of[nxt]))
            else:
                todo.extend(g.successors(nxt))
    return DrawnFlow(order=tuple(order), edges=frozenset(edges))


def merge(flows: Iterable[DrawnFlow]) -> DrawnFlow:
    order: list[str] = []
    edges: set[tuple[str, str]] = set()
    for f in flows:
        order.extend(s for s in f.order if s not in order)
        edges |= f.edges
    return DrawnFlow(order=tuple(order), edges=frozenset(edges))


def directly_follows(traces: Iterable[Trace]) -> tuple[nx.DiGraph, int]:
    """The DFG: node attr `count`, edge attr `waits` (seconds). Returns (graph, number of traces)."""
    g = nx.DiGraph()
    n = 0
    for trace in traces:
        n += 1
        prev: tuple[str, datetime] | None = None
        for stage, at in trace:
            if g.has_node(stage):
                g.nodes[stage]["count"] += 1
            else:
                g.add_node(stage, count=1, first=n)
            if prev is not None:
                if not g.has_edge(prev[0], stage):
                    g.add_edge(prev[0], stage, waits=[])
                g.edges[prev[0], stage]["waits"].append(max(0.0, (at - prev[1]).total_seconds()))
            prev = (stage, at)
    return g, n


def classify(source: str, target: str, drawn: DrawnFlow) -> str:
    if (source, target) in drawn.edges:
        return "drawn"
    pos = {s: i for i, s in enumerate(drawn.order)}
    if source not in pos or target not in pos:
        return "other"
    if pos[target] <= pos[source]:
        return "loop"
    if pos[target] > pos[source] + 1:
        return "skip"
    return "other"  # the next stage in order, but the drawing has no edge there


def build_map(traces: Iterable[Trace], drawn: DrawnFlow) -> ProcessMap:
    g, n = directly_follows(traces)
    order = [s for s in drawn.order if g.has_node(s)]
    extras = sorted((s for s in g.nodes if s not in drawn.order), key=lambda s: (g.nodes[s]["first"], s))
    position = {s: i for i, s in enumerate([*order, *extras])}
    raw = []
    for a, b, data in g.edges(data=True):
        waits = data["waits"]
        raw.append((a, b, len(waits), quantile(waits, 0.5), quantile(waits, 0.9)))
    p90s = [r[4] for r in raw]
    flagged: set[tuple[str, str]] = set()
    if p90s:
        threshold = BOTTLENECK_FACTOR * quantile(p90s, 0.5)
        slow = sorted((r for r in raw if r[4] > 0 and r[4] >= threshold), key=lambda r: -r[4])
        flagged = {(r[0], r[1]) for r in slow[:BOTTLENECK_TOP]}
    edges = tuple(
        MapEdge(source=a, target=b, count=c, median_s=med, p90_s=p90, kind=classify(a, b, drawn),
                bottleneck=(a, b) in flagged)
        for a, b, c, med, p90 in sorted(raw, key=lambda r: (position[r[0]], position[r[1]]))
    )
    nodes = tuple(MapNode(stage=s, count=g.nodes[s]["count"], position=position[s], drawn=s in drawn.order)
                  for s in sorted(position, key=position.__getitem__))
    return ProcessMap(nodes=nodes, edges=edges, orders=n)
