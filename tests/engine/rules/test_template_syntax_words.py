"""Template syntax errors in words (zh-CN and English), not Jinja's token names."""

from __future__ import annotations

import pytest

from backend import i18n
from engine.rules.templates import TemplateProblem, render_template

CASES = [
    ("{{ order.number ", "rule.template_syntax_unclosed_print", {"line": 1}),
    ("{{ order.number }", "rule.template_syntax_unclosed_print", {"line": 1}),
    ("a\n{% if order.amount > 1 %}big", "rule.template_syntax_unclosed_block", {"tag": "if", "line": 2}),
    ("{% for x in y %}{{ x }}{% endif %}", "rule.template_syntax_unclosed_block", {"tag": "for"}),
    ("{% frobnicate %}", "rule.template_syntax_unknown_tag", {"tag": "frobnicate"}),
    ("{{ }}", "rule.template_syntax_expression_missing", {}),
    ("{{ order.amount + }}", "rule.template_syntax_expression_missing", {}),
    ("{{ order.amount ) }}", "rule.template_syntax_unexpected", {"token": ")"}),
]


@pytest.mark.parametrize(("source", "code", "params"), CASES)
def test_each_syntax_error_has_its_own_code(source, code, params):
    with pytest.raises(TemplateProblem) as caught:
        render_template(source, {"order": {"number": "A", "amount": 1}, "y": []})
    assert caught.value.code == code
    assert params.items() <= caught.value.params.items()


@pytest.mark.parametrize(("source", "code", "params"), CASES)
def test_the_words_exist_in_both_languages(source, code, params):
    with pytest.raises(TemplateProblem) as caught:
        render_template(source, {"order": {"number": "A", "amount": 1}, "y": []})
    problem = caught.value
    english, chinese = _in("en", problem), _in("zh_CN", problem)
    assert "%(" not in english and "%(" not in chinese
    assert english != chinese and "Jinja" not in chinese and "expected" not in chinese
    if "tag" in problem.params:
        assert problem.params["tag"] in chinese


def _in(locale: str, problem: TemplateProblem) -> str:
    token = i18n.set_locale(locale)
    try:
        return i18n.translate_error(problem.code, problem.params)
    finally:
        i18n.reset_locale(token)
