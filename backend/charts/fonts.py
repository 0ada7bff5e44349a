"""Which typeface draws the chart's text: one with Chinese glyphs when the machine has one.

Lookup order (first that opens wins):
1. `GENDAN_CHART_FONT` (a .ttf/.otf/.ttc path), for an installation with its own font;
2. the known paths of common CJK fonts: Debian/Ubuntu `fonts-noto-cjk` (Noto Sans CJK, the SC
   face of the .ttc), `fonts-wqy-microhei` / `-zenhei`, `fonts-arphic-uming`, Droid Sans Fallback,
   Source Han Sans; macOS PingFang / STHeiti; Windows Microsoft YaHei / SimHei;
3. any file under /usr/share/fonts or /usr/local/share/fonts whose name says CJK/SC/WenQuanYi;
4. no CJK font: DejaVu Sans, else Pillow's built-in font. Text is then drawn with every CJK
   character replaced by "?" (never empty boxes), the image says "CJK font missing" in its
   footer, and the log warns once per process, naming the package to install.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import unicodedata
from dataclasses import dataclass

from PIL import ImageFont

log = logging.getLogger("gendan.charts.fonts")

CJK_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
SCAN_PATTERNS = ("*CJK*", "*SC-*", "*wqy*", "*SourceHanSans*", "*DroidSansFallback*")
SCAN_ROOTS = ("/usr/share/fonts", "/usr/local/share/fonts")
LATIN_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
PROBE = "中文报表"


@dataclass(frozen=True)
class FontSource:
    """A font file (and the face inside a collection) or None for Pillow's built-in font."""

    path: str | None
    index: int = 0
    has_cjk: bool = False


def _open(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size, index=index)


def _simplified_face(path: str) -> int:
    """A .ttc holds several faces (JP, KR, SC, TC …): pick the simplified Chinese one."""
    if not path.lower().endswith(".ttc"):
        return 0
    for index in range(12):
        try:
            family = _open(path, index, 12).getname()[0] or ""
        except OSError:
            break
        if family.endswith(" SC") or "SC" in family.split():
            return index
    return 0


def _draws_cjk(path: str, index: int) -> bool:
    """True when the face has real glyphs for Chinese (not the .notdef box for each character)."""
    try:
        font = _open(path, index, 24)
    except OSError:
        return False
    boxes = {font.getmask(ch).getbbox() for ch in PROBE}
    notdef = font.getmask("\uffff").getbbox()
    return len(boxes) > 1 or (boxes and next(iter(boxes)) != notdef)


def candidates(env: str | None = None) -> list[str]:
    """Every path tried, in order (documented above)."""
    out = [env] if env else []
    out += list(CJK_PATHS)
    for root in SCAN_ROOTS:
        for pattern in SCAN_PATTERNS:
            out += sorted(glob.glob(os.path.join(root, "**", pattern), recursive=True))[:20]
    return out


def find(env: str | None = None, *, paths: list[str] | None = None) -> FontSource:
    """The first CJK font that opens and draws Chinese; else the Latin fallback (logged)."""
    for path in paths if paths is not None else candidates(env):
        if not path or not os.path.isfile(path):
            continue
        index = _simplified_face(path)
        if _draws_cjk(path, index):
            return FontSource(path, index, has_cjk=True)
    for path in LATIN_PATHS:
        if os.path.isfile(path):
            return FontSource(path, 0, has_cjk=False)
    return FontSource(None, 0, has_cjk=False)


_found: FontSource | None = None
_warned = False
_lock = threading.Lock()


def default_source() -> FontSource:
    """The machine's font, looked up once per process; warns once when it has no CJK glyphs."""
    global _found, _warned
    with _lock:
        if _found is None:
            _found = find(os.environ.get("GENDAN_CHART_FONT") or None)
        if not _found.has_cjk and not _warned:
            _warned = True
            log.warning("no CJK font found (tried GENDAN_CHART_FONT and %s …): chart images draw Chinese as '?'; "
                        "install fonts-noto-cjk (Debian) or set GENDAN_CHART_FONT", CJK_PATHS[0])
        return _found


class Fonts:
    """Sized fonts of one source, cached; `text()` makes a string drawable by them."""

    def __init__(self, source: FontSource):
        self.source = source
        self._sizes: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
        self.replaced = 0  # characters drawn as "?" (no CJK font)

    def size(self, px: int):
        font = self._sizes.get(px)
        if font is None:
            if self.source.path is None:
                font = ImageFont.load_default(size=px)
            else:
                font = _open(self.source.path, self.source.index, px)
            self._sizes[px] = font
        return font

    def text(self, value: str) -> str:
        """The string itself, or with wide (CJK) characters as "?" when the font cannot draw them."""
        if self.source.has_cjk:
            return value
        out = []
        for ch in value:
            if ord(ch) > 0x2E7F and unicodedata.east_asian_width(ch) in ("W", "F"):
                out.append("?")
                self.replaced += 1
            else:
                out.append(ch)
        return "".join(out)
