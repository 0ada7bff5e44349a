"""Charts without axes: pie, ring, funnel, KPI tile, and a table drawn as an image."""

from __future__ import annotations

import math

from backend.charts.canvas import GRID, INK, MUTED, WHITE, Box, Canvas, color
from backend.charts.spec import ChartSpec, format_value


def draw_pie(cv: Canvas, spec: ChartSpec, box: Box) -> None:
    s = spec.series[0]
    values = [max(v or 0.0, 0.0) for v in s.values]
    total = sum(values)
    legend_w = box.w * 0.45
    d = min(box.h, box.w - legend_w) - 8 * cv.scale
    if d < 20:
        return
    cx, cy = box.x0 + (box.w - legend_w) / 2, (box.y0 + box.y1) / 2
    r = d / 2
    start = -90.0
    inner = r * 0.55 if spec.kind == "ring" else 0.0
    for i, v in enumerate(values):
        if total <= 0 or v <= 0:
            continue
        sweep = v / total * 360
        cv.draw.pieslice((cx - r, cy - r, cx + r, cy + r), start, start + sweep, fill=color(i), outline=WHITE, width=2)
        if sweep >= 14:
            mid = math.radians(start + sweep / 2)
            at = (r + inner) / 2 if inner else r * 0.65
            cv.text((cx + at * math.cos(mid), cy + at * math.sin(mid)), f"{v / total * 100:.0f}%", 12,
                    fill=INK, anchor="mm", outline=True)
        start += sweep
    if inner:
        cv.draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=WHITE)
        cv.text((cx, cy - 2), format_value(sum(v for v in s.values if v is not None), is_percent=s.is_percent),
                20, anchor="md", max_w=inner * 1.8)
        cv.text((cx, cy + 4), s.name, 12, fill=MUTED, anchor="ma", max_w=inner * 1.8)
    # legend: swatch, name, value and share
    line = 22 * cv.scale
    x = box.x1 - legend_w + 8 * cv.scale
    y = max(box.y0, cy - line * len(values) / 2)
    for i, (name, v) in enumerate(zip(spec.categories, s.values, strict=False)):
        if y + line > box.y1:
            break
        share = f" ({max(v or 0, 0) / total * 100:.0f}%)" if total > 0 else ""
        cv.draw.rectangle((x, y + 4, x + 12 * cv.scale, y + 4 + 12 * cv.scale), fill=color(i))
        value = format_value(v, is_percent=s.is_percent) + share
        vw = cv.width(value, 12)
        cv.text((x + 18 * cv.scale, y + 2), name, 12, max_w=legend_w - vw - 36 * cv.scale)
        cv.text((box.x1, y + 2), value, 12, fill=MUTED, anchor="ra")
        y += line


def draw_funnel(cv: Canvas, spec: ChartSpec, box: Box) -> None:
    s = spec.series[0]
    steps = sorted(zip(spec.categories, s.values, strict=False), key=lambda p: -(p[1] or 0))
    top = max((v or 0 for _, v in steps), default=0)
    if not steps:
        return
    h = box.h / len(steps)
    cx, full = (box.x0 + box.x1) / 2, box.w * 0.8
    prev = None
    for i, (name, v) in enumerate(steps):
        w = full * ((v or 0) / top) if top > 0 else 0
        nxt = steps[i + 1][1] if i + 1 < len(steps) else None
        w2 = full * ((nxt or 0) / top) if nxt is not None and top > 0 else w * 0.7
        y0, y1 = box.y0 + h * i, box.y0 + h * (i + 1) - 2
        cv.draw.polygon([(cx - w / 2, y0), (cx + w / 2, y0), (cx + w2 / 2, y1), (cx - w2 / 2, y1)], fill=color(i))
        text = f"{name}: {format_value(v, is_percent=s.is_percent)}"
        if spec.conversion and prev:
            text += f" ({(v or 0) / prev * 100:.0f}%)"
        cv.text((cx, (y0 + y1) / 2), text, 12 if h >= 18 else 10, fill=INK, anchor="mm", max_w=box.w - 8,
                outline=True)
        prev = v or 0


def draw_kpi(cv: Canvas, spec: ChartSpec, box: Box) -> None:
    s = spec.series[0]
    text = format_value(s.values[0] if s.values else None, is_percent=s.is_percent)
    px = int(min(box.h * 0.5, 96 * cv.scale) / max(cv.scale, 0.01))
    while px > 12 and cv.width(text, px) > box.w - 16:
        px -= 4
    cy = (box.y0 + box.y1) / 2
    cv.text(((box.x0 + box.x1) / 2, cy), text, px, fill=color(0), anchor="ms")
    cv.text(((box.x0 + box.x1) / 2, cy + 12 * cv.scale), s.name, 16, fill=MUTED, anchor="ma", max_w=box.w - 16)


def draw_table(cv: Canvas, spec: ChartSpec, box: Box) -> None:
    headers, rows = list(spec.headers), [list(r) for r in spec.table]
    if not headers:
        return
    px, pad = 12, 8 * cv.scale
    line = 24 * cv.scale
    natural = [max([cv.width(headers[c], px)] + [cv.width(r[c], px) for r in rows if c < len(r)]) + 2 * pad
               for c in range(len(headers))]
    total = sum(natural)
    widths = natural if total <= box.w else [w * box.w / total for w in natural]
    y = box.y0
    cv.draw.rectangle((box.x0, y, box.x0 + sum(widths), y + line), fill="#f0f2f5")
    for r_i, row in enumerate([headers] + rows):
        if y + line > box.y1 + 0.5:
            break
        x = box.x0
        for c, w in enumerate(widths):
            value = row[c] if c < len(row) else ""
            is_num = c < len(spec.numeric) and spec.numeric[c]
            if is_num:
                cv.text((x + w - pad, y + line / 2), value, px, fill=INK, anchor="rm", max_w=w - 2 * pad)
            else:
                cv.text((x + pad, y + line / 2), value, px, fill=INK if r_i else MUTED, anchor="lm", max_w=w - 2 * pad)
            x += w
        y += line
        cv.draw.line((box.x0, y, box.x0 + sum(widths), y), fill=GRID, width=1)
