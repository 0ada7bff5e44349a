"""Titles the engine hands over per locale, stored once and read in each reader's language.

A flow's to-do is titled by the step's name, which a designer wrote in several languages
(`{"zh-CN": "销售经理审批", "en": "Sales manager approval"}`). The engine stays language-free and
passes the names on (`engine.effects.Text`); a row keeps them in `title_i18n` beside a plain
`title` (searched, and shown where no name fits the reader), and pages, the API and e-mails
pick the reader's language when they show it.
"""

from __future__ import annotations

from collections.abc import Mapping

from backend import i18n
from engine.effects import Text

# Notice bodies the flow engine writes as message keys (it has no language), read in the reader's.
NOTICE_BODIES = {
    "flow.rejected": "Your order was rejected. Change it and resubmit it, or withdraw it.",
    "flow.urged": "The initiator asks you to handle this step soon.",
    "flow.overdue": "This step is past its time limit.",
    "flow.no_approver": "Nobody was found to handle this step: choose someone or change the flow.",
}

# Definitions name locales as browsers do ("zh-CN"); gettext catalogs as Babel does ("zh_CN").
_DEFINITION_LOCALE = {"zh_CN": "zh-CN", "en": "en"}
_FALLBACK_ORDER = ("zh-CN", "en")


def split_title(text: Text, limit: int = 300) -> tuple[str, dict[str, str] | None]:
    """(plain title for the `title` column, names per locale or None) of an effect's title."""
    if isinstance(text, str):
        return text[:limit], None
    names = {str(locale)[:10]: str(name)[:limit] for locale, name in text.items() if name}
    if not names:
        return "", None
    plain = next((names[loc] for loc in _FALLBACK_ORDER if loc in names), next(iter(names.values())))
    return plain, names


def read_title(title: str, names: Mapping[str, str] | None, locale: str | None = None) -> str:
    """The title in the reader's language (`locale` in gettext form; default: the request's)."""
    if not names:
        return title
    wanted = _DEFINITION_LOCALE.get(locale or i18n.get_locale(), "en")
    return names.get(wanted) or title


def read_body(body: str, locale: str | None = None) -> str:
    """A notice's body in the reader's language when it is one of the engine's keys, else as written."""
    template = NOTICE_BODIES.get(body)
    if template is None:
        return body
    return i18n.translations(locale or i18n.get_locale()).ugettext(template)


def read_text(text: Text, locale: str | None = None) -> str:
    """An effect's text in a reader's language (`locale` in gettext form, "zh_CN" / "en"; None: the
    installation's first language), else the other language: a rule's templates per language."""
    if isinstance(text, str):
        return text
    wanted = _DEFINITION_LOCALE.get(i18n.normalize(locale) or "zh_CN", "en") if locale else _FALLBACK_ORDER[0]
    return text.get(wanted) or next((t for loc in _FALLBACK_ORDER if (t := text.get(loc))), "") or next(
        (t for t in text.values() if t), "")
