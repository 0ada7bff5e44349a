"""Titles and notice bodies the engine hands over, read in each reader's language."""

from __future__ import annotations

import pytest

from backend.localized import read_body, read_title, split_title

NAMES = {"zh-CN": "销售经理审批", "en": "Sales manager approval"}


class TestSplitTitle:
    def test_plain_text_stays_plain(self):
        assert split_title("SO-1 overdue") == ("SO-1 overdue", None)

    def test_names_keep_every_language_and_the_chinese_as_plain_title(self):
        assert split_title(NAMES) == ("销售经理审批", NAMES)

    def test_english_only_names_give_the_english_plain_title(self):
        assert split_title({"en": "Ship"}) == ("Ship", {"en": "Ship"})

    def test_long_names_are_bounded_to_the_column(self):
        plain, names = split_title({"zh-CN": "审" * 1000, "en": "x" * 1000})
        assert len(plain) == 300 and {len(v) for v in names.values()} == {300}

    def test_empty_names_store_nothing(self):
        assert split_title({"zh-CN": "", "en": ""}) == ("", None)


class TestReadTitle:
    @pytest.mark.parametrize(("locale", "shown"), [("en", "Sales manager approval"), ("zh_CN", "销售经理审批")])
    def test_reader_gets_their_language(self, locale, shown):
        assert read_title("销售经理审批", NAMES, locale) == shown

    def test_missing_language_falls_back_to_the_plain_title(self):
        assert read_title("销售经理审批", {"zh-CN": "销售经理审批"}, "en") == "销售经理审批"

    def test_rows_without_names_show_their_title(self):
        assert read_title("SO-1 overdue", None, "en") == "SO-1 overdue"


class TestReadBody:
    @pytest.mark.parametrize(("locale", "shown"), [("en", "This step is past its time limit."),
                                                   ("zh_CN", "此步骤已超过时限。")])
    def test_engine_keys_read_as_sentences(self, locale, shown):
        assert read_body("flow.overdue", locale) == shown

    def test_other_bodies_are_left_as_written(self):
        assert read_body("please hurry", "zh_CN") == "please hurry"
