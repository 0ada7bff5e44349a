"""Match words: which time rules an order matched at the last scan, as bits, and what changed.

Why this exists: the one-pass scan (backend/rules/scan.py) stores per order one bit per enabled
time rule and acts only on the orders whose bits differ. Each rule holds a slot: bit
`slot % WORD_BITS` of word `slot // WORD_BITS`. A word lists bits, not rule ids, so its text is
short ("0,4611686018427387904" for two words). Pure: the words come in as integers, the rules as
anything with a slot, a baseline flag and a due flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

__all__ = ["WORD_BITS", "Changes", "Slotted", "bit_of", "classify", "format_words", "has", "parse_words", "word_of"]

WORD_BITS = 62  # bits per signed 64-bit word, keeping clear of the sign bit


class Slotted(Protocol):
    @property
    def slot(self) -> int: ...

    @property
    def ready(self) -> bool:
        """Its matches were recorded by a completed scan (it has a baseline)."""
        ...

    @property
    def due(self) -> bool:
        """Its interval has passed: act on its changes now (otherwise keep last scan's bits)."""
        ...


R = TypeVar("R", bound=Slotted)


def word_of(slot: int) -> int:
    return slot // WORD_BITS


def bit_of(slot: int) -> int:
    return 1 << (slot % WORD_BITS)


def parse_words(value: str | None, count: int) -> list[int]:
    """Stored words as integers, padded or cut to `count` (a slot beyond the stored words is 0)."""
    words = [int(part) for part in value.split(",")] if value else []
    return (words + [0] * count)[:count]


def format_words(words: Sequence[int]) -> str:
    return ",".join(str(w) for w in words)


def has(words: Sequence[int], rule: Slotted) -> bool:
    return bool(words[word_of(rule.slot)] & bit_of(rule.slot))


@dataclass
class Changes(Generic[R]):
    """Per order id: the rules whose match started, those whose match ended, and the words to
    store before the started matches are decided (a started match gets its bit once acted on)."""

    started: dict[int, list[R]] = field(default_factory=dict)
    ended: dict[int, list[R]] = field(default_factory=dict)
    words: dict[int, list[int]] = field(default_factory=dict)


def classify(rules: Sequence[R], words: int, chunk: Iterable[tuple[int, list[int], list[int]]]) -> Changes[R]:
    """Compare each order's words now with the words at the last scan, rule by rule.

    A rule that is not due keeps last scan's bit. For a due rule: a match without a (ready)
    bit before started, a bit whose match is gone ended, a match that stays keeps its bit. A rule
    without a baseline (not ready) counts every match as started."""
    changes: Changes[R] = Changes()
    for order_id, now, before in chunk:
        keep = [0] * words
        for r in rules:
            word, bit = word_of(r.slot), bit_of(r.slot)
            was = r.ready and has(before, r)
            if not r.due:
                if was:
                    keep[word] |= bit
            elif has(now, r) and not was:
                changes.started.setdefault(order_id, []).append(r)
            elif was and not has(now, r):
                changes.ended.setdefault(order_id, []).append(r)
            elif was:
                keep[word] |= bit
        changes.words[order_id] = keep
    return changes
