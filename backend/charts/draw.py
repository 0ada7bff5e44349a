"""A chart spec to PNG bytes. Pure: the same spec and fonts give the same bytes (no clock, no
random, no database); the fonts come in as an argument.

Size is bounded whatever the data: at most MAX_CATEGORIES along an axis (the report's own order,
the first ones), MAX_SERIES series, MAX_SLICES pie slices (the rest summed into "Other (N)"),
MAX_STEPS funnel steps, a heat map of MAX_HEAT_X × MAX_HEAT_Y cells and MAX_TABLE_ROWS ×
MAX_TABLE_COLUMNS table cells; what was left out is said in the footer ("+N more").
"""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from backend.charts.axes import draw_axes, draw_heatmap
from backend.charts.canvas import INK, MUTED, Box, Canvas
from backend.charts.fonts import Fonts
from backend.charts.shapes import draw_funnel, draw_kpi, draw_pie, draw_table
from backend.charts.spec import ChartSpec, Series

WIDTH, HEIGHT = 960, 540
MAX_CATEGORIES = 30
MAX_SERIES = 8
MAX_SLICES = 10
MAX_STEPS = 12
MAX_HEAT_X, MAX_HEAT_Y = 24, 16
MAX_TABLE_ROWS, MAX_TABLE_COLUMNS = 20, 8
MAX_PIXELS = 4000 * 4000
MAX_DASHBOARD_ROWS = 48


def bound(spec: ChartSpec) -> tuple[ChartSpec, list[str]]:
    """The spec cut to what is drawn, and the footer notes saying what was left out."""
    words, notes = spec.words, []
    if spec.kind in ("bar", "stacked_bar", "line"):
        series = spec.series
        if len(series) > MAX_SERIES:
            notes.append(words.more_series.format(n=len(series) - MAX_SERIES))
            series = series[:MAX_SERIES]
        cats = spec.categories
        if len(cats) > MAX_CATEGORIES:
            notes.append(words.more.format(n=len(cats) - MAX_CATEGORIES))
            cats = cats[:MAX_CATEGORIES]
            series = tuple(replace(s, values=s.values[:MAX_CATEGORIES]) for s in series)
        spec = replace(spec, categories=cats, series=series)
    elif spec.kind in ("pie", "ring") and len(spec.categories) > MAX_SLICES:
        s = spec.series[0]
        rest = len(spec.categories) - (MAX_SLICES - 1)
        other = sum(v or 0 for v in s.values[MAX_SLICES - 1:])
        spec = replace(spec, categories=spec.categories[:MAX_SLICES - 1] + (words.other.format(n=rest),),
                       series=(replace(s, values=s.values[:MAX_SLICES - 1] + (other,)),))
    elif spec.kind == "funnel" and len(spec.categories) > MAX_STEPS:
        s = spec.series[0]
        order = sorted(range(len(s.values)), key=lambda i: -(s.values[i] or 0))[:MAX_STEPS]
        notes.append(words.more.format(n=len(spec.categories) - MAX_STEPS))
        spec = replace(spec, categories=tuple(spec.categories[i] for i in order),
                       series=(replace(s, values=tuple(s.values[i] for i in order)),))
    elif spec.kind == "heatmap":
        if len(spec.categories) > MAX_HEAT_X:
            notes.append(words.more.format(n=len(spec.categories) - MAX_HEAT_X))
        if len(spec.rows_y) > MAX_HEAT_Y:
            notes.append(words.more.format(n=len(spec.rows_y) - MAX_HEAT_Y))
        spec = replace(spec, categories=spec.categories[:MAX_HEAT_X], rows_y=spec.rows_y[:MAX_HEAT_Y],
                       grid=tuple(row[:MAX_HEAT_X] for row in spec.grid[:MAX_HEAT_Y]))
    elif spec.kind == "table":
        if len(spec.table) > MAX_TABLE_ROWS:
            notes.append(words.more_rows.format(n=len(spec.table) - MAX_TABLE_ROWS))
        spec = replace(spec, headers=spec.headers[:MAX_TABLE_COLUMNS], numeric=spec.numeric[:MAX_TABLE_COLUMNS],
                       table=tuple(r[:MAX_TABLE_COLUMNS] for r in spec.table[:MAX_TABLE_ROWS]))
    if spec.more_rows:
        notes.append(words.more_rows.format(n=spec.more_rows))
    return spec, notes


def _is_empty(spec: ChartSpec) -> bool:
    if spec.kind == "table":
        return not spec.table
    if spec.kind == "heatmap":
        return not any(v is not None for row in spec.grid for v in row)
    if spec.kind == "kpi":
        return False
    return not spec.categories or not any(v is not None for s in spec.series for v in s.values)


def draw_image(spec: ChartSpec, fonts: Fonts, *, width: int = WIDTH, height: int = HEIGHT,
               scale: float = 1.0) -> Image.Image:
    """The chart as a Pillow image (for composing several into one)."""
    width, height = max(120, int(width)), max(90, int(height))
    if width * height > MAX_PIXELS:
        raise ValueError(f"chart image too large: {width}×{height}")
    spec, notes = bound(spec)
    image = Image.new("RGB", (width, height), "white")
    cv = Canvas(image, fonts, scale)
    pad = 16 * scale
    cv.text((pad, pad), spec.title, 20, fill=INK, anchor="lt", max_w=width - 2 * pad)
    y = pad + 30 * scale
    if spec.subtitle:
        cv.text((pad, y), spec.subtitle, 12, fill=MUTED, anchor="lt", max_w=width - 2 * pad)
        y += 20 * scale
    replaced_before = fonts.replaced
    footer_h = 20 * scale
    box = Box(pad, y + 6 * scale, width - pad, height - pad - footer_h)
    if _is_empty(spec):
        cv.text((width / 2, (box.y0 + box.y1) / 2), spec.words.empty, 16, fill=MUTED, anchor="mm")
    elif spec.kind in ("bar", "stacked_bar", "line"):
        draw_axes(cv, spec, box)
    elif spec.kind == "heatmap":
        draw_heatmap(cv, spec, box)
    elif spec.kind in ("pie", "ring"):
        draw_pie(cv, spec, box)
    elif spec.kind == "funnel":
        draw_funnel(cv, spec, box)
    elif spec.kind == "kpi":
        draw_kpi(cv, spec, box)
    else:
        draw_table(cv, spec, box)
    if fonts.replaced or replaced_before or not fonts.source.has_cjk and fonts.replaced:
        notes.append(spec.words.font_missing)
    if notes:
        cv.text((pad, height - pad), " · ".join(notes), 11, fill=MUTED, anchor="ld", max_w=width - 2 * pad)
    return image


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # zlib level 3: about half the time of level 6 for ~20 % more bytes (a chart is 20 – 30 KiB)
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()


def render_png(spec: ChartSpec, fonts: Fonts, *, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """Data in, PNG bytes out."""
    return png_bytes(draw_image(spec, fonts, width=width, height=height))


def compose_png(title: str, tiles: list[tuple[ChartSpec, int, int, int, int]], fonts: Fonts, *,
                width: int = 1200, row_px: int = 90) -> bytes:
    """A dashboard as one image: each tile (spec, x, y, w, h on the 12-column grid) drawn at its
    place, smaller text on small tiles. Tiles below row MAX_DASHBOARD_ROWS are left out (the
    image stays under 1200 × 4,400 px)."""
    tiles = [t for t in tiles if t[2] + t[4] <= MAX_DASHBOARD_ROWS]
    col = (width - 16) / 12
    bottom = max((y + h for _, _, y, _, h in tiles), default=1)
    height = int(56 + bottom * row_px + 8)
    image = Image.new("RGB", (width, height), "#f0f2f5")
    cv = Canvas(image, fonts)
    cv.text((16, 16), title, 22, fill=INK, anchor="lt", max_w=width - 32)
    for spec, x, y, w, h in tiles:
        tw, th = int(col * w) - 8, int(row_px * h) - 8
        scale = 0.8 if tw < 480 else 1.0
        tile = draw_image(spec, fonts, width=tw, height=th, scale=scale)
        image.paste(tile, (int(8 + col * x + 4), int(56 + row_px * y + 4)))
    return png_bytes(image)


__all__ = ["HEIGHT", "MAX_CATEGORIES", "MAX_SERIES", "WIDTH", "ChartSpec", "Series", "bound", "compose_png",
           "draw_image", "png_bytes", "render_png"]
