"""Reading a contract file into OCR words: sniff the type, bound it, clean the page, run Tesseract.

Hostile input is bounded here: the bytes by the upload cap (checked by the caller and again here),
pixels by MAX_PIXELS (Pillow's decompression-bomb guard raised to an error), PDFs by MAX_PAGES
(pdftoppm renders only those) and a wall-clock limit per page for pdftoppm and tesseract. The type
comes from the file's first bytes, never its name or the browser's word.

Tesseract is Debian's `tesseract-ocr` with `chi_sim` and `eng`, called as a subprocess with TSV
output (one row per word with its confidence). Preprocessing: grayscale, upscale small photos,
deskew by projection profile (the angle whose row sums vary most), a median filter for noise.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter, ImageOps

from backend.errors import GendanError
from engine.ocr import OcrWord

MAX_PIXELS = 40_000_000  # a 8000×5000 photo; a bomb claims far more
MAX_PAGES = 5
PAGE_SECONDS = 90
LANGS = "chi_sim"  # reads Chinese, digits and Latin; a mostly-Latin page is read again with "eng"
PDF_DPI = 200
TARGET_WIDTH = 1800  # pages are scaled to about this width before reading (~200 dpi for A4)

KINDS = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"%PDF-": "application/pdf",
         b"GIF87a": "image/gif", b"GIF89a": "image/gif", b"II*\x00": "image/tiff", b"MM\x00*": "image/tiff",
         b"BM": "image/bmp"}


def sniff(content: bytes) -> str | None:
    """The file's type from its first bytes (WebP: RIFF....WEBP), or None when it is none we read."""
    for magic, kind in KINDS.items():
        if content.startswith(magic):
            return kind
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def available() -> bool:
    return shutil.which("tesseract") is not None


def check_header(content: bytes, kind: str) -> None:
    """Refuse at upload what the worker would refuse: an image whose header claims too many
    pixels or cannot be parsed (Pillow reads the header only here)."""
    if kind == "application/pdf":
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(content))
            width, height = img.size
    except Image.DecompressionBombError:
        raise GendanError("ocr.too_many_pixels", {"max": MAX_PIXELS}) from None
    except Exception:
        raise GendanError("ocr.unreadable_file", {}) from None
    if width * height > MAX_PIXELS:
        raise GendanError("ocr.too_many_pixels", {"max": MAX_PIXELS})


def open_image(content: bytes) -> Image.Image:
    """Decode one raster image within the pixel cap (Pillow's bomb warning is an error here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(content))
            if img.width * img.height > MAX_PIXELS:
                raise GendanError("ocr.too_many_pixels", {"max": MAX_PIXELS})
            img.load()
    except GendanError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise GendanError("ocr.too_many_pixels", {"max": MAX_PIXELS}) from None
    except Exception:  # any decoder complaint about the bytes is the file's fault
        raise GendanError("ocr.unreadable_file", {}) from None
    return ImageOps.exif_transpose(img)


def pdf_pages(content: bytes, workdir: Path) -> list[Image.Image]:
    """The first MAX_PAGES pages of a PDF as images, rendered by poppler's pdftoppm."""
    src = workdir / "in.pdf"
    src.write_bytes(content)
    try:
        subprocess.run(["pdftoppm", "-r", str(PDF_DPI), "-gray", "-png", "-f", "1", "-l", str(MAX_PAGES),
                        "-scale-to", "2400", str(src), str(workdir / "page")],
                       check=True, capture_output=True, timeout=PAGE_SECONDS * MAX_PAGES)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError):
        raise GendanError("ocr.unreadable_file", {}) from None
    pages = sorted(workdir.glob("page*.png"))
    if not pages:
        raise GendanError("ocr.unreadable_file", {})
    return [open_image(p.read_bytes()) for p in pages[:MAX_PAGES]]


def load_pages(content: bytes, workdir: Path) -> list[Image.Image]:
    kind = sniff(content)
    if kind is None:
        raise GendanError("ocr.unsupported_file", {})
    if kind == "application/pdf":
        return pdf_pages(content, workdir)
    img = open_image(content)
    frames = getattr(img, "n_frames", 1)
    if frames > 1:  # a multi-page TIFF: its first pages
        out = []
        for i in range(min(frames, MAX_PAGES)):
            img.seek(i)
            out.append(img.copy())
        return out
    return [img]


def skew_angle(gray: Image.Image) -> float:
    """The rotation (degrees) that straightens the text lines: rows of a straight page alternate
    between ink and paper, so their sums vary most. Searched on a small copy, coarse then fine."""
    small = gray.copy()
    small.thumbnail((700, 700))
    ink = ImageOps.invert(small.point(lambda v: 255 if v > 160 else 0))

    def score(angle: float) -> float:
        rows = ink.rotate(angle, resample=Image.NEAREST, fillcolor=0).resize((1, ink.height), Image.BOX)
        values = list(rows.getdata())
        mean = sum(values) / len(values)
        return sum((v - mean) ** 2 for v in values)

    best = max((a / 2 for a in range(-12, 13)), key=score)
    return max((best + a / 10 for a in range(-4, 5)), key=score)


def otsu(gray: Image.Image) -> int:
    """The threshold that best splits the histogram into ink and paper (Otsu's method)."""
    hist = gray.histogram()[:256]
    total = sum(hist)
    sum_all = sum(i * h for i, h in enumerate(hist))
    best, best_t, w0, sum0 = -1.0, 128, 0, 0.0
    for t, h in enumerate(hist):
        w0 += h
        if w0 == 0 or w0 == total:
            continue
        sum0 += t * h
        m0, m1 = sum0 / w0, (sum_all - sum0) / (total - w0)
        between = w0 * (total - w0) * (m0 - m1) ** 2
        if between > best:
            best, best_t = between, t
    return best_t


def _long_runs(binary: Image.Image, min_run: int) -> Image.Image:
    """A mask (255) of the horizontal runs of ink at least `min_run` pixels long."""
    w, h = binary.size
    data = binary.tobytes()
    mask = bytearray(w * h)
    run = re.compile(rb"\x00{%d,}" % min_run)
    for y in range(h):
        for m in run.finditer(data, y * w, (y + 1) * w):
            mask[m.start():m.end()] = b"\xff" * (m.end() - m.start())
    return Image.frombytes("L", (w, h), bytes(mask))


def remove_rules(binary: Image.Image) -> Image.Image:
    """Whiten long straight runs of ink (a table's ruled lines, the edge of the paper), which
    Tesseract otherwise reads as characters and which break its lines apart. A run longer than 5%
    of the width is no letter; the mask is widened a little to take the line's ragged edges too."""
    min_run = max(20, int(binary.width * 0.05))
    across = _long_runs(binary, min_run)
    down = _long_runs(binary.transpose(Image.Transpose.ROTATE_90), min_run).transpose(Image.Transpose.ROTATE_270)
    mask = ImageChops.lighter(across, down).filter(ImageFilter.MaxFilter(5))
    return ImageChops.lighter(binary, mask)


def is_noisy(gray: Image.Image) -> bool:
    """Speckled (a photo, a poor scan) rather than a clean render: a median filter changes many
    pixels of a noisy page and almost none of a clean one (whose paper is one flat colour)."""
    w, h = gray.size
    sample = gray.crop((w // 4, h // 4, min(w, w // 4 + 500), min(h, h // 4 + 500)))
    diff = ImageChops.difference(sample, sample.filter(ImageFilter.MedianFilter(3)))
    changed = sum(diff.point(lambda v: 255 if v > 12 else 0).histogram()[255:])
    return changed > 0.05 * sample.width * sample.height  # clean renders ~0.01, photos ~0.11


def preprocess(img: Image.Image) -> Image.Image:
    gray = img.convert("L") if img.mode != "L" else img
    noisy = is_noisy(gray)
    if noisy:
        gray = gray.filter(ImageFilter.MedianFilter(3))
    if gray.width < TARGET_WIDTH * 0.8 or gray.width > TARGET_WIDTH * 1.5:
        ratio = TARGET_WIDTH / gray.width
        gray = gray.resize((TARGET_WIDTH, max(1, int(gray.height * ratio))), Image.LANCZOS)
    if noisy:
        gray = gray.filter(ImageFilter.MedianFilter(3))
    angle = skew_angle(gray)
    if abs(angle) >= 0.2:
        gray = gray.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    cut = otsu(gray)
    binary = gray.point(lambda v: 255 if v > cut else 0)
    return remove_rules(binary)


def tesseract_words(img: Image.Image, workdir: Path, page: int, langs: str = LANGS) -> list[OcrWord]:
    src = workdir / f"ocr{page}.png"
    img.save(src)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per page: the worker shares the machine
    try:
        done = subprocess.run(["tesseract", str(src), "stdout", "-l", langs, "--psm", "6", "tsv"],
                              capture_output=True, timeout=PAGE_SECONDS, env=env, check=True)
    except subprocess.TimeoutExpired:
        raise GendanError("ocr.timeout", {"seconds": PAGE_SECONDS}) from None
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise GendanError("ocr.engine_failed", {}) from None
    return parse_tsv(done.stdout.decode("utf-8", "replace"), page)


def mostly_latin(words: list[OcrWord]) -> bool:
    text = "".join(w.text for w in words)
    letters = sum(1 for c in text if c.isalpha())
    cjk = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return letters > 0 and cjk / letters < 0.15


def parse_tsv(text: str, page: int = 0) -> list[OcrWord]:
    words = []
    for row in csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        if not word or row.get("level") != "5":
            continue
        try:
            words.append(OcrWord(text=word, conf=max(0.0, float(row["conf"])) / 100, page=page,
                                 block=int(row["block_num"]), par=int(row["par_num"]), line=int(row["line_num"]),
                                 left=int(row["left"]), top=int(row["top"]), width=int(row["width"]),
                                 height=int(row["height"])))
        except (KeyError, ValueError):
            continue
    return words


def read_file(content: bytes, *, max_bytes: int,
              progress: Callable[[int], None] = lambda pct: None) -> list[OcrWord]:
    """Every word of every page (bounded as above), calling `progress` with 0-100 as pages finish."""
    if len(content) > max_bytes:
        raise GendanError("ocr.file_too_large", {"max": max_bytes})
    with tempfile.TemporaryDirectory(prefix="gendan-ocr-") as tmp:
        workdir = Path(tmp)
        pages = load_pages(content, workdir)
        progress(10)
        words: list[OcrWord] = []
        for i, page in enumerate(pages):
            clean = preprocess(page)
            found = tesseract_words(clean, workdir, i)
            if mostly_latin(found):
                found = tesseract_words(clean, workdir, i, "eng")
            words += found
            progress(10 + int(85 * (i + 1) / len(pages)))
        return words
