"""What a chart image shows: plain data, built from a report's table (pure: no database, no I/O).

`from_table` mirrors designer/static/js/reports/draw.js (chartOption) so the image a robot gets
reads like the chart on the page: two dimensions make one series per value of the second, one
dimension one series per measure; pie, ring and funnel read the first measure; a heat map needs
two dimensions (with fewer it is drawn as bars); a pivot becomes a cross table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("table", "bar", "stacked_bar", "line", "pie", "ring", "funnel", "heatmap", "kpi")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]
    is_percent: bool = False  # a rate (0 … 1) drawn as a percentage


@dataclass(frozen=True)
class Words:
    """The few words the drawing writes itself, in the reader's language."""

    more: str = "+{n} more"
    more_series: str = "+{n} more series"
    more_rows: str = "+{n} more rows"
    other: str = "Other ({n})"
    font_missing: str = "CJK font missing: install fonts-noto-cjk"
    empty: str = "No data"


@dataclass(frozen=True)
class ChartSpec:
    kind: str
    title: str
    categories: tuple[str, ...] = ()
    series: tuple[Series, ...] = ()
    x_label: str = ""
    y_label: str = ""
    # heat map: categories along x, `rows_y` along y, `grid[y][x]`
    rows_y: tuple[str, ...] = ()
    grid: tuple[tuple[float | None, ...], ...] = ()
    # table (and pivot): headers and text cells; `numeric` marks right-aligned columns
    headers: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    numeric: tuple[bool, ...] = ()
    conversion: bool = False  # funnel: each step labelled with its share of the step before
    subtitle: str = ""
    more_rows: int = 0  # rows the report itself left out (its limit): said under the chart
    words: Words = field(default_factory=Words)


def number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def format_value(value: float | None, *, is_percent: bool = False) -> str:
    if value is None:
        return "—"
    if is_percent:
        pct = value * 100
        return f"{pct:.0f}%" if abs(pct) >= 10 or pct == int(pct) else f"{pct:.1f}%"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def _cell(value: Any, is_percent: bool) -> str:
    num = number(value) if not isinstance(value, str) else None
    if num is None:
        return "—" if value is None else str(value)
    return format_value(num, is_percent=is_percent)


def label(value: Any) -> str:
    return "—" if value is None else str(value)


def _distinct(values: list[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def from_table(view: str, title: str, headers: list[str], rows: list[list[Any]], *, dimensions: int,
               percent_measures: list[bool], conversion: bool = False, subtitle: str = "",
               words: Words | None = None) -> ChartSpec:
    """A spec from the report's table as people read it (labels, not ids): `headers` and `rows`
    hold the dimensions first, then the measures; `percent_measures` marks the rate measures."""
    words = words or Words()
    nd = dimensions
    pct = list(percent_measures) + [False] * (len(headers) - nd - len(percent_measures))
    if view == "heatmap" and nd < 2:
        view = "bar"
    if view in ("table", "pivot") or len(headers) <= nd:
        if view == "pivot" and nd >= 2 and len(headers) > nd:
            xs = _distinct([r[1] for r in rows])
            ys = _distinct([r[0] for r in rows])
            cells = {(r[0], r[1]): r[nd] for r in rows}
            table = tuple(tuple([label(y)] + [_cell(cells.get((y, x)), pct[0]) for x in xs]) for y in ys)
            return ChartSpec("table", title, headers=tuple([headers[0]] + [label(x) for x in xs]), table=table,
                             numeric=tuple([False] + [True] * len(xs)), subtitle=subtitle, words=words)
        table = tuple(tuple(label(v) if i < nd else _cell(v, pct[i - nd]) for i, v in enumerate(r)) for r in rows)
        return ChartSpec("table", title, headers=tuple(headers), table=table,
                         numeric=tuple(i >= nd for i in range(len(headers))), subtitle=subtitle, words=words)
    if view == "kpi":
        value = number(rows[0][nd]) if rows else None
        return ChartSpec("kpi", title, categories=(headers[nd],), series=(Series(headers[nd], (value,), pct[0]),),
                         subtitle=subtitle, words=words)
    if view in ("pie", "ring", "funnel"):
        cats = tuple(label(r[0]) if nd else title for r in rows)
        return ChartSpec(view, title, categories=cats,
                         series=(Series(headers[nd], tuple(number(r[nd]) for r in rows), pct[0]),),
                         x_label=headers[0] if nd else "", conversion=conversion, subtitle=subtitle, words=words)
    if view == "heatmap":
        xs, ys = _distinct([r[0] for r in rows]), _distinct([r[1] for r in rows])
        cells = {(r[0], r[1]): number(r[nd]) for r in rows}
        grid = tuple(tuple(cells.get((x, y)) for x in xs) for y in ys)
        return ChartSpec("heatmap", title, categories=tuple(label(x) for x in xs), rows_y=tuple(label(y) for y in ys),
                         grid=grid, series=(Series(headers[nd], (), pct[0]),), x_label=headers[0], y_label=headers[1],
                         subtitle=subtitle, words=words)
    kind = view if view in ("line", "stacked_bar") else "bar"
    if nd >= 2:
        cats = _distinct([r[0] for r in rows])
        groups = _distinct([r[1] for r in rows])
        cells = {(r[0], r[1]): number(r[nd]) for r in rows}
        series = tuple(Series(label(g), tuple(cells.get((c, g)) for c in cats), pct[0]) for g in groups)
        return ChartSpec(kind, title, categories=tuple(label(c) for c in cats), series=series, x_label=headers[0],
                         y_label=headers[nd], subtitle=subtitle, words=words)
    if nd == 1:
        cats = tuple(label(r[0]) for r in rows)
        x_label = headers[0]
    else:
        cats, x_label = (title,), ""
    series = tuple(Series(headers[nd + j], tuple(number(r[nd + j]) for r in rows), pct[j])
                   for j in range(len(headers) - nd))
    y_label = headers[nd] if len(series) == 1 else ""
    return ChartSpec(kind, title, categories=cats, series=series, x_label=x_label, y_label=y_label,
                     subtitle=subtitle, words=words)
