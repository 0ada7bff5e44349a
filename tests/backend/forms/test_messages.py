"""The form messages reach the backend's i18n in both languages, from one source."""

from __future__ import annotations

import pytest

from backend import i18n
from backend.forms import messages
from engine.forms import MESSAGES


def test_generated_catalog_is_up_to_date():
    assert messages.PO_PATH.read_text(encoding="utf-8") == messages.build_po(), (
        "run `python -m backend.forms.messages`")


@pytest.mark.parametrize(("locale", "expected"), [("zh_CN", "不能小于 5。"), ("en", "Must be at least 5.")])
def test_engine_codes_translate_through_backend_i18n(locale, expected):
    token = i18n.set_locale(locale)
    try:
        assert i18n.translate_error("form.number_too_small", {"field": "qty", "min": 5}) == expected
    finally:
        i18n.reset_locale(token)


def test_every_code_is_registered():
    assert set(MESSAGES) | set(messages.BACKEND_MESSAGES) <= set(i18n.error_messages())
