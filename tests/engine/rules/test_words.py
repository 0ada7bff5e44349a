"""Match words and the scan's classification of each order's changes (engine/rules/words.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from engine.rules.words import WORD_BITS, bit_of, classify, format_words, has, parse_words, word_of


@dataclass(frozen=True)
class Rule:
    slot: int
    ready: bool = True
    due: bool = True


def words_with(*rules: Rule, count: int = 2) -> list[int]:
    words = [0] * count
    for r in rules:
        words[word_of(r.slot)] |= bit_of(r.slot)
    return words


class TestWords:
    def test_slots_past_one_word_go_to_the_next(self):
        assert (word_of(WORD_BITS - 1), word_of(WORD_BITS)) == (0, 1)
        assert bit_of(WORD_BITS) == 1 and bit_of(WORD_BITS - 1) == 1 << (WORD_BITS - 1)

    def test_the_text_round_trips_and_pads(self):
        words = words_with(Rule(0), Rule(WORD_BITS + 3), Rule(2 * WORD_BITS - 1), count=2)
        assert parse_words(format_words(words), 2) == words
        assert parse_words(format_words(words), 3) == [*words, 0]
        assert parse_words(None, 2) == [0, 0] and parse_words("5,6,7", 1) == [5]
        assert max(words) < 2 ** 63  # a signed 64-bit column holds every word

    def test_has_reads_the_rules_bit(self):
        words = words_with(Rule(WORD_BITS + 1))
        assert has(words, Rule(WORD_BITS + 1)) and not has(words, Rule(1))


class TestClassify:
    A, B = Rule(0), Rule(WORD_BITS)  # two rules in two words

    def test_a_new_match_starts_and_waits_for_its_bit(self):
        changes = classify([self.A, self.B], 2, [(7, words_with(self.A), [0, 0])])
        assert changes.started == {7: [self.A]} and changes.ended == {} and changes.words[7] == [0, 0]

    def test_a_match_that_stays_keeps_its_bit(self):
        both = words_with(self.A, self.B)
        changes = classify([self.A, self.B], 2, [(7, both, both)])
        assert changes.started == changes.ended == {} and changes.words[7] == both

    def test_a_match_that_is_gone_ends(self):
        changes = classify([self.A, self.B], 2, [(7, words_with(self.A), words_with(self.A, self.B))])
        assert changes.ended == {7: [self.B]} and changes.words[7] == words_with(self.A)

    @pytest.mark.parametrize("now_matches", [True, False])
    def test_a_rule_not_due_keeps_last_scans_bit(self, now_matches):
        slow = Rule(3, due=False)
        before = words_with(slow)
        now = before if now_matches else [0, 0]
        changes = classify([slow], 2, [(7, now, before)])
        assert changes.started == changes.ended == {} and changes.words[7] == before

    def test_a_rule_without_a_baseline_starts_every_match(self):
        fresh = Rule(1, ready=False)
        matched = words_with(fresh)
        changes = classify([fresh], 2, [(7, matched, matched), (8, [0, 0], matched)])
        assert changes.started == {7: [fresh]} and changes.ended == {}  # no baseline: nothing to end
        assert changes.words == {7: [0, 0], 8: [0, 0]}
