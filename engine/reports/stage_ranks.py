"""Time in stage over all time, read at its ranks: the day-one tile without sorting every visit.

Why this exists: "time in stage (median and p90) per node" over all time, for a reader who sees
every order, is a percentile of every stage visit ever (8,000,000 at 1,000,000 orders). The general
plan (engine/reports/compiler.py) reads every visit and sorts each stage's ~900,000 durations for
`percentile_cont`: seconds of database CPU. An exact percentile needs only the values at two ranks.
The stored visits (order_stage_visit, stagetime_0001) keep each left visit's whole `seconds`, indexed
as (stage, seconds, entered_at): per stage the left visits in duration order, then the open ones
(seconds NULL), whose durations (now - entered) ascend as `entered_at` descends. So:

1. one grouped count per stage (all visits, and the left ones) from that index;
2. per stage and percentile, the two neighbouring ranks ⌊(n−1)·p⌋ and ⌈(n−1)·p⌉ of the merged
   durations, read from whichever end of the stage is nearer: the left visits and the open ones
   each skip what surely comes before the rank (r − |open| of the left, r − |left| of the open)
   and the short remainders are merged by one small sort (all pieces in one statement);
3. the figure is `percentile_cont`'s: lo + (h − ⌊h⌋)·(hi − lo) with h = (n−1)·p, on the same
   hours (whole seconds / 3600.0) as the general plan, in the same floating point.

Only this shape is read so (`rank_plan`): order events by `stage_to` alone, filtered to stage
entries only, measures median / p90 / min / max of `duration_hours` or a count; and only for a reader
whose access clause lets every order through, without dashboard filters (the caller's check) —
anyone else reads a subset of the visits no index orders, and goes the general way. Rows come out
as the general plan's: stages in the database's order, then the report's sort, then its limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, func, literal, literal_column, select, union_all

from engine.facts.sql import EpochSeconds
from engine.reports.definition import ReportDefinition

__all__ = ["Counts", "RankPlan", "StaleCounts", "rank_plan"]

STAGE_SET = {"!!": [{"var": "stage_to"}]}
PERCENTILES = {"median": 0.5, "p90": 0.9}
OPS = ("count", "median", "p90", "min", "max")


class StaleCounts(RuntimeError):
    """A rank read fewer values than the counts said (visits deleted in between)."""


@dataclass(frozen=True)
class Counts:
    """One stage's visits: all of them and the left ones (the rest are open)."""

    stage: str
    total: int
    left: int

    @property
    def open(self) -> int:
        return self.total - self.left


@dataclass(frozen=True)
class Piece:
    """Ranks first..first+size-1 (ascending, or from the top when `top`) of one stage's durations."""

    stage: int
    first: int
    size: int
    top: bool


@dataclass(frozen=True)
class RankPlan:
    """A time-in-stage report read at its ranks: measure ops in the report's order."""

    ops: tuple[str, ...]
    sort: tuple[tuple[int, bool], ...]  # (measure index or -1 for d0, descending)

    def count_statement(self, visit: Any) -> Any:
        """Per stage (in the database's order of stage names): all visits and the left ones."""
        return (select(visit.c.stage, func.count().label("total"), func.count(visit.c.seconds).label("left"))
                .group_by(visit.c.stage).order_by(visit.c.stage))

    def pieces(self, counts: Sequence[Counts]) -> list[Piece]:
        """The ranks each stage's measures need, each pair from the nearer end."""
        out: list[Piece] = []
        for s, c in enumerate(counts):
            wanted: set[tuple[int, int]] = set()
            for op in self.ops:
                if op == "min":
                    wanted.add((0, 1))
                elif op == "max":
                    wanted.add((c.total - 1, 1))
                elif op in PERCENTILES:
                    h = (c.total - 1) * PERCENTILES[op]
                    lo, hi = math.floor(h), math.ceil(h)
                    wanted.add((lo, hi - lo + 1))
            for first, size in sorted(wanted):
                last = first + size - 1
                if first <= c.total - 1 - last:
                    out.append(Piece(s, first, size, False))
                else:
                    out.append(Piece(s, c.total - 1 - last, size, True))
        return out

    def rank_statement(self, visit: Any, counts: Sequence[Counts], pieces: Sequence[Piece], now_s: int) -> Any | None:
        """One statement reading every piece's durations (whole seconds): rows (piece index, seconds)."""
        parts = [_piece_select(visit, counts[p.stage], p, now_s, i) for i, p in enumerate(pieces)]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else union_all(*parts)

    def rows(self, counts: Sequence[Counts], pieces: Sequence[Piece], fetched: Sequence[tuple[int, int]],
             limit: int) -> list[list[Any]]:
        """The report's rows [stage, m0, m1, ...] as the general plan returns them."""
        values: dict[int, list[int]] = {}
        for index, seconds in fetched:
            values.setdefault(int(index), []).append(int(seconds))
        at: dict[tuple[int, int], float] = {}  # (stage, ascending rank) -> hours
        for i, piece in enumerate(pieces):
            got = sorted(values.get(i, []))
            if len(got) != piece.size:  # visits went between the two statements: the caller reads the general way
                raise StaleCounts(f"rank read {len(got)} of {piece.size} values")
            c = counts[piece.stage]
            first = c.total - piece.first - piece.size if piece.top else piece.first
            for k, seconds in enumerate(got):
                at[(piece.stage, first + k)] = seconds / 3600.0
        out = []
        for s, c in enumerate(counts):
            row: list[Any] = [s, c.stage]  # the database's stage order first (dropped below)
            for op in self.ops:
                if op == "count":
                    row.append(c.total)
                elif op == "min":
                    row.append(at[(s, 0)])
                elif op == "max":
                    row.append(at[(s, c.total - 1)])
                else:  # percentile_cont: PostgreSQL's float8 lerp, SQLite's compile the same
                    h = (c.total - 1) * PERCENTILES[op]
                    lo = math.floor(h)
                    low = at[(s, lo)]
                    row.append(low + (h - lo) * (at[(s, math.ceil(h))] - low) if h > lo else low)
            out.append(row)
        # the report's sort keys, then the stage (the general plan's ORDER BY ..., d0): stable sorts from
        # the last key to the first over rows in the database's stage order
        for column, descending in reversed(self.sort):
            out.sort(key=lambda r, col=column: r[col + 2] if col >= 0 else r[0], reverse=descending)
        return [r[1:] for r in out[:limit]]


def _piece_select(visit: Any, c: Counts, piece: Piece, now_s: int, index: int) -> Any:
    """Ranks piece.first.. of the stage's merged durations (ascending, or descending from the top):
    the left visits by `seconds`, the open ones by `entered_at` (the other way), each after skipping
    what surely precedes the first rank, merged by sorting the short remainders."""
    r, last = piece.first, piece.first + piece.size - 1
    left, opened = c.left, c.open
    skip_left, skip_open = max(0, r - opened), max(0, r - left)
    take_left, take_open = min(left, last + 1) - skip_left, min(opened, last + 1) - skip_open
    stage = visit.c.stage == literal(c.stage)
    spent = visit.c.seconds
    parts = []
    if take_left > 0:
        order = spent.desc() if piece.top else spent.asc()
        parts.append(select(spent.label("d")).where(stage, spent.is_not(None))
                     .order_by(order).offset(skip_left).limit(take_left))
    if take_open > 0:
        # (seconds, entered_at) as the index orders them: the open visits' durations grow as entered_at falls
        now = literal_column(str(int(now_s)), BigInteger)
        order = ((spent.asc(), visit.c.entered_at.asc()) if piece.top
                 else (spent.desc(), visit.c.entered_at.desc()))
        parts.append(select((now - EpochSeconds(visit.c.entered_at)).label("d")).where(stage, spent.is_(None))
                     .order_by(*order).offset(skip_open).limit(take_open))
    window = (parts[0] if len(parts) == 1 else union_all(*[select(p.subquery().c.d) for p in parts])).subquery()
    d = window.c.d
    return select(select(literal_column(str(int(index)), Integer).label("piece"), d.label("seconds"))
                  .order_by(d.desc() if piece.top else d.asc())
                  .offset(r - skip_left - skip_open).limit(piece.size).subquery())


def rank_plan(report: ReportDefinition) -> RankPlan | None:
    """The plan when the report is time in stage per stage over stage entries (see the module);
    None for any other report. The caller checks the reader and the dashboard filters."""
    if report.dataset != "order_events" or len(report.dimensions) != 1 or report.filter != STAGE_SET:
        return None
    dim = report.dimensions[0]
    if dim.field != "stage_to" or dim.bucket or not report.measures:
        return None
    if any(m.op not in OPS or (m.op != "count" and m.field != "duration_hours") or m.where is not None
           for m in report.measures):
        return None
    sort = tuple((-1 if s.by[0] == "d" else int(s.by[1]), s.dir == "desc") for s in report.sort)
    if any(col >= len(report.measures) or (col < 0 and int(s.by[1]) != 0) for (col, _), s in zip(sort, report.sort, strict=True)):
        return None
    return RankPlan(tuple(m.op for m in report.measures), sort)
