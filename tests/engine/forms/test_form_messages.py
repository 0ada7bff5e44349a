"""The zh-CN / en message catalogue covers every code the engine can emit."""

import re
import string
from pathlib import Path

import pytest
from formkit import load

from engine.forms import MESSAGES, render, validate_data

ENGINE = Path(__file__).resolve().parents[3] / "engine" / "forms"
EMITTED = sorted({m for p in ENGINE.glob("*.py") for m in re.findall(r'"(form\.[a-z_]+)"', p.read_text())})


def placeholders(template):
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class TestCatalogue:
    def test_codes_were_found(self):
        assert len(EMITTED) > 60

    @pytest.mark.parametrize("code", EMITTED)
    def test_every_emitted_code_has_both_languages(self, code):
        assert set(MESSAGES[code]) == {"en", "zh-CN"}

    @pytest.mark.parametrize("code", sorted(MESSAGES))
    def test_both_languages_use_the_same_placeholders(self, code):
        assert placeholders(MESSAGES[code]["en"]) == placeholders(MESSAGES[code]["zh-CN"])

    @pytest.mark.parametrize("code", sorted(MESSAGES))
    def test_chinese_text_is_chinese(self, code):
        assert re.search(r"[\u4e00-\u9fff]", MESSAGES[code]["zh-CN"])


class TestRender:
    @pytest.mark.parametrize(
        ("locale", "expected"),
        [("zh-CN", "不能小于 1。"), ("en", "Must be at least 1."), ("zh", "不能小于 1。"), ("zh_TW", "不能小于 1。"),
         ("en-GB", "Must be at least 1."), ("fr", "Must be at least 1.")],
    )
    def test_locale_choice(self, locale, expected):
        assert render("form.number_too_small", {"min": 1}, locale) == expected

    def test_missing_param_stays_visible(self):
        assert render("form.number_too_small", {}, "en") == "Must be at least {min}."

    def test_unknown_code_renders_as_itself(self):
        assert render("form.no_such_code", {}, "en") == "form.no_such_code"

    def test_list_params_are_joined_per_language(self):
        assert render("form.incompatible_change", {"fields": ["a", "b"], "orders": 3}, "en") == (
            "Changing the type of a, b would break 3 existing orders.")
        assert render("form.incompatible_change", {"fields": ["a", "b"], "orders": 3}, "zh-CN") == (
            "修改 a、b 的类型会影响 3 个已有订单。")


class TestErrorsInTheUsersLanguage:
    def test_same_errors_in_chinese_and_english(self, every_type):
        data = {"planned_delivery": "2025-01-01", "email": "x@", "items": [{"qty": 0}]}
        zh = validate_data(every_type, data, locale="zh-CN")
        en = validate_data(every_type, data, locale="en")
        assert [(e.path, e.code) for e in zh.errors] == [(e.path, e.code) for e in en.errors]
        assert zh.errors_by_path() == {
            "planned_delivery": ["不能早于 2026-01-01。"],
            "email": ["请输入有效的电子邮箱地址。"],
            "items[0].product": ["此字段为必填项。"],
            "items[0].qty": ["不能小于 1。"],
        }
        assert en.errors_by_path()["planned_delivery"] == ["Must be on or after 2026-01-01."]

    def test_required_date_in_chinese(self):
        defn = load("conditional")
        result = validate_data(defn, {"needs_shipping": "on"}, locale="zh-CN")
        assert [e.to_json() for e in result.errors] == [
            {"path": "address", "code": "form.required", "params": {"field": "address"}, "message": "此字段为必填项。"}]
