"""OCR words and the text lines they make, with the text normalised for matching.

Tesseract's chi_sim model reads Chinese with spaces between characters and sometimes full-width
punctuation; `norm` folds full-width forms to ASCII and drops the spaces between CJK characters
so that "合 同 编 号 ：HT-1" reads "合同编号:HT-1".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class OcrWord:
    text: str
    conf: float  # 0..1
    page: int = 0
    block: int = 0
    par: int = 0
    line: int = 0
    left: int = 0
    top: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class OcrLine:
    words: tuple[OcrWord, ...]

    @property
    def text(self) -> str:
        return join_words([w.text for w in self.words])

    @property
    def conf(self) -> float:
        return min((w.conf for w in self.words), default=0.0)

    def conf_of(self, start: int) -> float:
        """The lowest confidence of the words from character `start` of `text` on."""
        pos, low = 0, 1.0
        for w in self.words:
            end = pos + len(w.text)
            if end > start:
                low = min(low, w.conf)
            pos = end + 1
        return low if self.words else 0.0


_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
_CJK_GAP = re.compile(rf"(?<={_CJK}) (?={_CJK})")


def is_cjk(ch: str) -> bool:
    return bool(re.fullmatch(_CJK, ch))


def norm(text: str) -> str:
    """NFKC (full-width → ASCII, "：" → ":"), no space between CJK characters nor around ":"."""
    text = unicodedata.normalize("NFKC", text)
    text = _CJK_GAP.sub("", text)
    text = re.sub(r"\s*:\s*", ":", text)
    return re.sub(r"\s+", " ", text).strip()


def join_words(texts: list[str]) -> str:
    return " ".join(texts)


def group_lines(words: list[OcrWord]) -> list[OcrLine]:
    """Tesseract's own lines (page, block, paragraph, line), top to bottom, words left to right."""
    groups: dict[tuple[int, int, int, int], list[OcrWord]] = {}
    for w in words:
        groups.setdefault((w.page, w.block, w.par, w.line), []).append(w)
    lines = [OcrLine(tuple(sorted(ws, key=lambda w: w.left))) for ws in groups.values()]
    return sorted(lines, key=lambda ln: (ln.words[0].page, min(w.top for w in ln.words)))
