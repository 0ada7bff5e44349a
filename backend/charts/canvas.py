"""Drawing helpers shared by every chart kind: text that fits, rotated text, legends, nice ticks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageDraw

from backend.charts.fonts import Fonts

# ECharts' default palette, so an image looks like the chart on the page
PALETTE = ("#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc")
INK = "#333333"
MUTED = "#6e7079"
GRID = "#e0e6f1"
WHITE = "#ffffff"
ELLIPSIS = "…"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0


class Canvas:
    def __init__(self, image: Image.Image, fonts: Fonts, scale: float = 1.0):
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.fonts = fonts
        self.scale = scale  # small tiles draw smaller text

    def font(self, px: int):
        return self.fonts.size(max(8, round(px * self.scale)))

    def width(self, text: str, px: int) -> float:
        return self.draw.textlength(self.fonts.text(text), font=self.font(px))

    def fit(self, text: str, px: int, max_w: float) -> str:
        """The text, cut with an ellipsis to fit `max_w` pixels ("" when not even that fits)."""
        text = self.fonts.text(text)
        font = self.font(px)
        if self.draw.textlength(text, font=font) <= max_w:
            return text
        lo, hi = 0, len(text)
        while lo < hi:  # the longest prefix that fits with the ellipsis
            mid = (lo + hi + 1) // 2
            if self.draw.textlength(text[:mid] + ELLIPSIS, font=font) <= max_w:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo] + ELLIPSIS if lo else ""

    def text(self, xy: tuple[float, float], text: str, px: int, *, fill: str = INK, anchor: str = "la",
             max_w: float | None = None, outline: bool = False) -> None:
        shown = self.fit(text, px, max_w) if max_w is not None else self.fonts.text(text)
        if not shown:
            return
        kwargs = {"stroke_width": 2, "stroke_fill": WHITE} if outline else {}
        self.draw.text((round(xy[0]), round(xy[1])), shown, font=self.font(px), fill=fill, anchor=anchor, **kwargs)

    def vtext(self, center: tuple[float, float], text: str, px: int, *, max_h: float, fill: str = MUTED) -> None:
        """Text turned 90° counter-clockwise (a y-axis name), centred on `center`."""
        shown = self.fit(text, px, max_h)
        if not shown:
            return
        font = self.font(px)
        left, top, right, bottom = font.getbbox(shown)
        mask = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
        ImageDraw.Draw(mask).text((-left + 1, -top + 1), shown, font=font, fill=255)
        mask = mask.rotate(90, expand=True)
        x, y = round(center[0] - mask.width / 2), round(center[1] - mask.height / 2)
        self.image.paste(Image.new("RGB", mask.size, fill), (x, y), mask)

    def legend(self, names: list[str], box: Box, px: int = 12) -> float:
        """Swatches and names in rows across the top of `box`; returns the height used."""
        if not names:
            return 0
        sw, gap, line = 12 * self.scale, 16 * self.scale, (px + 8) * self.scale
        x, y = box.x0, box.y0
        max_name = box.w / 2
        for i, name in enumerate(names):
            shown = self.fit(name, px, max_name)
            w = sw + 6 + self.draw.textlength(shown, font=self.font(px))
            if x > box.x0 and x + w > box.x1:
                x, y = box.x0, y + line
            self.draw.rectangle((x, y + 2, x + sw, y + 2 + sw), fill=color(i))
            self.text((x + sw + 6, y + 1), shown, px, fill=MUTED)
            x += w + gap
        return y + line - box.y0


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values from lo to hi (both included in the range), zero among them."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks, value = [], start
    while value < hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 10))
    return ticks


def compact(value: float, *, is_percent: bool = False) -> str:
    """An axis tick: 1.2M, 35k, 0.5, 40%."""
    if is_percent:
        return f"{value * 100:.0f}%"
    a = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def blend(a: str, b: str, t: float) -> str:
    ca = [int(a[i:i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))
