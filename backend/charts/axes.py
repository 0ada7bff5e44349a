"""Charts on axes: bar, stacked bar, line (categories along x, values up) and the heat map."""

from __future__ import annotations

from backend.charts.canvas import GRID, INK, MUTED, WHITE, Box, Canvas, blend, color, compact, nice_ticks
from backend.charts.spec import ChartSpec, format_value

HEAT = ("#f6efa6", "#d88273", "#bf444c")  # ECharts' visualMap default


def _label_step(cv: Canvas, labels: list[str], slot: float, px: int) -> int:
    """Show every k-th category name so the shown names do not overlap."""
    widest = max((cv.width(label, px) for label in labels), default=0)
    min_slot = min(widest, 90 * cv.scale) + 8
    return max(1, int(-(-min_slot // max(slot, 1))))


def draw_axes(cv: Canvas, spec: ChartSpec, box: Box) -> None:
    cats, series = list(spec.categories), list(spec.series)
    stacked, is_line = spec.kind == "stacked_bar", spec.kind == "line"
    is_percent = bool(series) and series[0].is_percent
    names = [s.name for s in series] if len(series) > 1 or spec.y_label == "" else []
    top = box.y0 + cv.legend(names, box)
    if stacked:
        highs = [sum(max(s.values[i] or 0, 0) for s in series) for i in range(len(cats))]
        lows = [sum(min(s.values[i] or 0, 0) for s in series) for i in range(len(cats))]
    else:
        values = [v for s in series for v in s.values if v is not None]
        highs, lows = values or [0.0], values or [0.0]
    ticks = nice_ticks(min(lows, default=0), max(highs, default=0))
    lo, hi = ticks[0], ticks[-1]
    px = 12
    tick_w = max(cv.width(compact(t, is_percent=is_percent), px) for t in ticks)
    y_name_w = 20 * cv.scale if spec.y_label else 0
    plot = Box(box.x0 + y_name_w + tick_w + 8, top + 18 * cv.scale, box.x1 - 8,
               box.y1 - (20 + (20 if spec.x_label else 0)) * cv.scale)
    if plot.w < 20 or plot.h < 20:
        return

    def y_of(v: float) -> float:
        return plot.y1 - (v - lo) / (hi - lo) * plot.h

    for t in ticks:
        y = y_of(t)
        cv.draw.line((plot.x0, y, plot.x1, y), fill=GRID, width=1)
        cv.text((plot.x0 - 6, y), compact(t, is_percent=is_percent), px, fill=MUTED, anchor="rm")
    cv.draw.line((plot.x0, y_of(0), plot.x1, y_of(0)), fill=MUTED, width=1)
    if spec.y_label:
        cv.vtext((box.x0 + y_name_w / 2, (plot.y0 + plot.y1) / 2), spec.y_label, 13, max_h=plot.h)
    n = max(len(cats), 1)
    slot = plot.w / n
    step = _label_step(cv, cats, slot, px)
    for i, cat in enumerate(cats):
        if i % step == 0:
            cv.text((plot.x0 + slot * (i + 0.5), plot.y1 + 6), cat, px, fill=INK, anchor="ma", max_w=slot * step - 4)
    if spec.x_label:
        cv.text(((plot.x0 + plot.x1) / 2, box.y1 - 2), spec.x_label, 13, fill=MUTED, anchor="md", max_w=plot.w)
    if is_line:
        _lines(cv, spec, plot, slot, y_of)
    else:
        _bars(cv, spec, plot, slot, y_of, stacked)


def _bars(cv: Canvas, spec: ChartSpec, plot: Box, slot: float, y_of, stacked: bool) -> None:
    series = list(spec.series)
    group = slot * 0.7
    bar = group if stacked else group / max(len(series), 1)
    zero = y_of(0)
    for i in range(len(spec.categories)):
        left = plot.x0 + slot * i + (slot - group) / 2
        up, down = 0.0, 0.0
        for j, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else None
            if v is None:
                continue
            if stacked:
                base = up if v >= 0 else down
                y0, y1 = y_of(base), y_of(base + v)
                if v >= 0:
                    up += v
                else:
                    down += v
                x0 = left
            else:
                y0, y1 = zero, y_of(v)
                x0 = left + bar * j
            top, bottom = min(y0, y1), max(y0, y1)
            cv.draw.rectangle((round(x0), round(top), round(x0 + bar) - 1, max(round(bottom), round(top) + 1)),
                              fill=color(j))
            text = format_value(v, is_percent=s.is_percent)
            if stacked:
                if bottom - top >= 16 * cv.scale and cv.width(text, 11) <= bar - 2:
                    cv.text((x0 + bar / 2, (top + bottom) / 2), text, 11, fill=WHITE, anchor="mm")
            elif cv.width(text, 11) <= slot * 0.95 / max(len(series), 1):
                cv.text((x0 + bar / 2, top - 3 if v >= 0 else bottom + 3), text, 11, fill=INK,
                        anchor="md" if v >= 0 else "ma")
        if stacked and len(series) > 1:
            total = format_value(up + down, is_percent=series[0].is_percent)
            if cv.width(total, 11) <= slot - 2:
                cv.text((left + group / 2, y_of(up) - 3), total, 11, fill=INK, anchor="md")


def _lines(cv: Canvas, spec: ChartSpec, plot: Box, slot: float, y_of) -> None:
    n = len(spec.categories)
    for j, s in enumerate(spec.series):
        points = [(plot.x0 + slot * (i + 0.5), y_of(v)) if v is not None else None
                  for i, v in enumerate(s.values[:n])]
        run: list[tuple[float, float]] = []
        for p in points + [None]:
            if p is None:
                if len(run) > 1:
                    cv.draw.line(run, fill=color(j), width=max(2, round(3 * cv.scale)), joint="curve")
                run = []
            else:
                run.append(p)
        r = 4 * cv.scale
        for i, p in enumerate(points):
            if p is None:
                continue
            cv.draw.ellipse((p[0] - r, p[1] - r, p[0] + r, p[1] + r), fill=WHITE, outline=color(j), width=2)
            text = format_value(s.values[i], is_percent=s.is_percent)
            if cv.width(text, 11) <= slot - 2:
                cv.text((p[0], p[1] - r - 2), text, 11, fill=INK, anchor="md", outline=True)


def draw_heatmap(cv: Canvas, spec: ChartSpec, box: Box) -> None:
    xs, ys, grid = list(spec.categories), list(spec.rows_y), spec.grid
    is_percent = bool(spec.series) and spec.series[0].is_percent
    values = [v for row in grid for v in row if v is not None]
    lo, hi = min(values, default=0.0), max(values, default=0.0)
    px = 12
    y_w = min(max((cv.width(y, px) for y in ys), default=0) + 8, box.w * 0.3)
    legend_h = 28 * cv.scale
    plot = Box(box.x0 + y_w + (20 * cv.scale if spec.y_label else 0), box.y0,
               box.x1, box.y1 - (20 + (20 if spec.x_label else 0)) * cv.scale - legend_h)
    if plot.w < 20 or plot.h < 20 or not xs or not ys:
        return
    cw, ch = plot.w / len(xs), plot.h / len(ys)
    for yi, y_name in enumerate(ys):
        cv.text((plot.x0 - 6, plot.y0 + ch * (yi + 0.5)), y_name, px, fill=INK, anchor="rm", max_w=y_w - 8)
        for xi in range(len(xs)):
            v = grid[yi][xi] if xi < len(grid[yi]) else None
            x0, y0 = plot.x0 + cw * xi, plot.y0 + ch * yi
            fill = "#f5f5f5" if v is None else heat_color(v, lo, hi)
            cv.draw.rectangle((round(x0), round(y0), round(x0 + cw) - 2, round(y0 + ch) - 2), fill=fill)
            text = format_value(v, is_percent=is_percent) if v is not None else ""
            if text and cv.width(text, 11) <= cw - 4 and ch >= 14:
                cv.text((x0 + cw / 2 - 1, y0 + ch / 2 - 1), text, 11, fill=INK, anchor="mm")
    step = _label_step(cv, xs, cw, px)
    for xi, x_name in enumerate(xs):
        if xi % step == 0:
            cv.text((plot.x0 + cw * (xi + 0.5), plot.y1 + 4), x_name, px, anchor="ma", max_w=cw * step - 4)
    if spec.x_label:
        cv.text(((plot.x0 + plot.x1) / 2, plot.y1 + 24 * cv.scale), spec.x_label, 13, fill=MUTED, anchor="ma",
                max_w=plot.w)
    if spec.y_label:
        cv.vtext((box.x0 + 10 * cv.scale, (plot.y0 + plot.y1) / 2), spec.y_label, 13, max_h=plot.h)
    # the scale: a gradient bar with its two ends
    bar_w, bar_y = min(200 * cv.scale, plot.w / 2), box.y1 - 12 * cv.scale
    x0 = (box.x0 + box.x1 - bar_w) / 2
    for k in range(int(bar_w)):
        cv.draw.line((x0 + k, bar_y - 5, x0 + k, bar_y + 5), fill=heat_color(lo + (hi - lo) * k / max(bar_w, 1), lo, hi))
    cv.text((x0 - 6, bar_y), format_value(lo, is_percent=is_percent), 11, fill=MUTED, anchor="rm")
    cv.text((x0 + bar_w + 6, bar_y), format_value(hi, is_percent=is_percent), 11, fill=MUTED, anchor="lm")


def heat_color(v: float, lo: float, hi: float) -> str:
    t = 0.0 if hi == lo else max(0.0, min(1.0, (v - lo) / (hi - lo)))
    return blend(HEAT[0], HEAT[1], t * 2) if t < 0.5 else blend(HEAT[1], HEAT[2], (t - 0.5) * 2)
