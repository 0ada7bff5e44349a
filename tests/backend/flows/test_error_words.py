"""A to-do's outcome and a flow's status inside an error message are said in the reader's language
(the walkthrough found "此待办已关闭（completed）" on a zh-CN page)."""

from __future__ import annotations

import pytest

from backend import i18n
from backend.flows.messages import PARAM_WORDS


@pytest.fixture
def zh():
    token = i18n.set_locale("zh_CN")
    yield
    i18n.reset_locale(token)


def test_a_closed_todo_names_its_outcome_in_chinese(zh):
    assert i18n.translate_error("flow.task_closed", {"outcome": "completed"}) == "此待办已关闭（已完成）。"
    assert i18n.translate_error("flow.task_closed", {"outcome": "sent_back"}) == "此待办已关闭（已退回）。"
    assert "进行中" not in i18n.translate_error("flow.not_running", {"status": "withdrawn"})
    assert "已撤回" in i18n.translate_error("flow.not_running", {"status": "withdrawn"})


def test_english_says_words_not_codes():
    token = i18n.set_locale("en")
    try:
        assert i18n.translate_error("flow.task_closed", {"outcome": "sent_back"}) == \
            "This to-do is already closed (returned)."
    finally:
        i18n.reset_locale(token)


def test_an_unknown_value_is_kept_as_it_came(zh):
    assert "（odd）" in i18n.translate_error("flow.task_closed", {"outcome": "odd"})
    assert i18n.translate_error("flow.task_closed", {"outcome": {"not": "a word"}})  # no crash


def test_every_word_has_chinese(zh):
    catalog = i18n.translations("zh_CN")
    for code, params in PARAM_WORDS.items():
        for words in params.values():
            for word in words.values():
                assert catalog.upgettext("flow_word", word) != word, (code, word)
