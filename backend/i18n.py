"""Translations: gettext catalogs read straight from the .po files (no compile step to forget).

The locale of the current request lives in a context variable set by middleware (user setting,
then the `lang` cookie, then Accept-Language). `_()` and `ngettext()` read it. The engine never
translates: it returns codes and params, which `translate_error` renders here.
"""

from __future__ import annotations

import contextvars
import importlib
import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "frontend" / "locale"
SUPPORTED = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("gendan_locale", default=DEFAULT_LOCALE)


def set_locale(locale: str) -> contextvars.Token:
    return _current.set(normalize(locale) or DEFAULT_LOCALE)


def reset_locale(token: contextvars.Token) -> None:
    _current.reset(token)


def get_locale() -> str:
    return _current.get()


def normalize(value: str | None) -> str | None:
    """'zh-CN', 'zh', 'zh_Hans_CN' -> 'zh_CN'; 'en-US' -> 'en'; unknown -> None."""
    if not value:
        return None
    v = value.strip().replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_CN"
    if v.startswith("en"):
        return "en"
    return None


def pick_from_accept_language(header: str | None) -> str | None:
    if not header:
        return None
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        piece = part.strip().split(";q=")
        try:
            q = float(piece[1]) if len(piece) > 1 else 1.0
        except ValueError:
            q = 0.0
        weighted.append((q, piece[0]))
    for _q, tag in sorted(weighted, key=lambda t: -t[0]):
        found = normalize(tag)
        if found:
            return found
    return None


@cache
def translations(locale: str) -> Translations:
    """All catalogs of a locale merged: messages.po (shell) plus one .po per area (forms.po, ...),
    so the areas can be translated independently."""
    merged = None
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        if merged is None:
            merged = catalog
        else:
            for message in catalog:
                if message.id and message.string:
                    merged[message.id] = message
    if merged is None:
        return Translations()  # type: ignore[return-value]
    buf = io.BytesIO()
    write_mo(buf, merged)
    buf.seek(0)
    return Translations(fp=buf)


def gettext(message: str, **params: Any) -> str:
    text = translations(get_locale()).ugettext(message)
    return text % params if params else text


_ = gettext


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(get_locale()).ungettext(singular, plural, n)
    return text % {"num": n, **params}


# Error messages, keyed by code. Written in English; translated through the catalog like any string.
# These are the shell's and the foundation API's codes; each domain keeps its own table (below).
ERROR_MESSAGES: dict[str, str] = {
    "not_found": "Not found.",
    "internal": "Something went wrong on our side (reference %(ref)s). It has been logged; please try again.",
    "method_not_allowed": "This method is not allowed here.",
    "http_error": "The request could not be handled: %(detail)s",
    "request.body_unreadable": "The request body could not be read: it is not valid JSON or nests too deeply.",
    "auth.required": "Please sign in.",
    "auth.invalid_credentials": "Wrong user name or password.",
    "auth.invalid_token": "The token is invalid or has expired.",
    "auth.forbidden": "You do not have permission to do this.",
    "auth.csrf_failed": "The form has expired. Reload the page and try again.",
    "auth.rate_limited": "Too many sign-in attempts. Try again in %(minutes)s min.",
    "user.last_admin": "%(name)s is the last active administrator: give another user the administrator role first.",
    "validation.failed": "%(count)s field(s) are not valid.",
    "request.too_large": "The request is too large (at most %(limit)s bytes).",
    "order.not_found": "Order %(id)s was not found.",
    "order.version_conflict": "Someone else changed this order (now version %(current_version)s). Reload and try again.",
    "order.number_taken": "Order number %(number)s is already used.",
    "order.invalid_dates": "The payment due date cannot be before the order was created.",
    "customer.not_found": "Customer %(id)s was not found.",
    "user.not_found": "User %(id)s was not found.",
    "user.username_taken": "User name %(username)s is already taken.",
    "department.not_found": "Department %(id)s was not found.",
    "department.cycle": "A department cannot be placed under itself.",
    "field.missing": "This field is required.",
    "field.extra_forbidden": "Unknown field %(field)s.",
    "field.greater_than_equal": "Must be at least %(ge)s.",
    "field.greater_than": "Must be greater than %(gt)s.",
    "field.less_than_equal": "Must be at most %(le)s.",
    "field.string_too_long": "At most %(max_length)s characters.",
    "field.string_too_short": "At least %(min_length)s characters.",
    "field.string_pattern_mismatch": "The format is not valid.",
    "field.date_from_datetime_parsing": "Not a valid date.",
    "field.date_parsing": "Not a valid date.",
    "field.date_from_datetime_inexact": "Not a valid date.",
    "field.datetime_parsing": "Not a valid date and time.",
    "field.datetime_from_date_parsing": "Not a valid date and time.",
    "field.int_parsing": "Must be a whole number.",
    "field.int_type": "Must be a whole number.",
    "field.decimal_parsing": "Must be a number.",
    "field.decimal_type": "Must be a number.",
    "field.float_parsing": "Must be a number.",
    "field.string_type": "Must be text.",
    "field.bool_parsing": "Must be yes or no.",
    "field.literal_error": "Must be one of: %(expected)s.",
    "field.enum": "Must be one of: %(expected)s.",
    "field.json_invalid": "The request body is not valid JSON.",
    "field.value_error": "The value is not valid.",
    "field.decimal_max_places": "At most %(decimal_places)s decimal places.",
    "field.decimal_max_digits": "At most %(max_digits)s digits.",
    "auth.read_only_key": "This API key may only read.",
    "api_key.not_found": "API key %(id)s was not found.",
    "order.external_id_conflict": "An order from %(source)s with external id %(external_id)s already exists "
                                  "with different values (order %(id)s).",
    "order.owner_not_allowed": "You may only assign orders to yourself or your team.",
    "order.date_before_created": "The date cannot be before the order was created (%(created)s).",
    "customer.code_taken": "Customer code %(code)s is already used.",
    "customer.forbidden": "You may only change customers of your own team.",
    "customer.channel_unreachable": "The preferred channel %(channel)s needs %(needs)s.",
    "customer.one_primary_contact": "Mark exactly one contact as the primary contact.",
    "customer.too_many_contacts": "A customer has at most %(max)s contacts.",
    "field.*": "The value is not valid.",
    "field.cursor_invalid": "This page link is no longer valid. Start again from the first page.",
    "field.date_out_of_range": "The date must be between %(earliest)s and %(latest)s.",
    "field.not_nullable": "This field cannot be empty.",
    "field.range_inverted": "The end of the range is before its start.",
    "field.dict_type": "Must be an object.",
    "field.model_type": "Must be an object.",
    "field.model_attributes_type": "Must be an object.",
    "field.list_type": "Must be a list.",
    "field.bool_type": "Must be yes or no.",
    "field.int_from_float": "Must be a whole number.",
    "field.too_long": "At most %(max_length)s items.",
    "field.date_type": "Not a valid date.",
    "field.datetime_type": "Not a valid date and time.",
    "field.finite_number": "Must be a finite number.",
    "field.decimal_whole_digits": "Too many digits before the decimal point.",
    "field.less_than": "Must be less than %(lt)s.",
    "user.cannot_deactivate_self": "You cannot deactivate your own account.",
    "user.cannot_drop_own_admin": "You cannot remove the administrator role from your own account.",
    "api_key.name_missing": "Give the key a name.",
}

# The one registry of error messages: each module holds `ERROR_MESSAGES = {code: English template}`
# (its Chinese is in that area's .po). They are read on the first translation, not registered at
# import, so the server, the worker, the CLI and a test that builds no app all see the same table.
ERROR_MESSAGE_MODULES = (
    "backend.cli.messages",
    "backend.connectors.messages",
    "backend.connectors.mapping_messages",
    "backend.flows.messages",
    "backend.foresight.messages",
    "backend.forms.messages",
    "backend.inbox.messages",
    "backend.installation.messages",
    "backend.logistics.messages",
    "backend.ingest.messages",
    "backend.ingest.messages_history",
    "backend.live.messages",
    "backend.notify.messages",
    "backend.ocr.messages",
    "backend.ids",
    "backend.params",
    "backend.portal.messages",
    "backend.pipeline",
    "backend.replay.messages",
    "backend.reports.messages",
    "backend.reports.image_messages",
    "backend.rules.messages",
    "backend.tracking.error_messages",
    "backend.connectors.vendor_messages",
    "backend.connectors.vendor_messages2",
)
_all_error_messages: dict[str, str] | None = None


def error_messages() -> dict[str, str]:
    """Every error code's English template: the table above plus each module's."""
    global _all_error_messages
    if _all_error_messages is None:
        merged = dict(ERROR_MESSAGES)
        for name in ERROR_MESSAGE_MODULES:
            merged.update(importlib.import_module(name).ERROR_MESSAGES)
        _all_error_messages = merged  # assigned whole: a concurrent first call builds the same table
    return _all_error_messages


_param_words: dict[str, tuple[str, dict[str, dict[str, str]]]] | None = None


def param_words() -> dict[str, tuple[str, dict[str, dict[str, str]]]]:
    """{code: (msgctxt, {param: {value: English word}})}: params that are words of a fixed set (a
    to-do's outcome), said in the reader's language, from the modules' PARAM_WORDS."""
    global _param_words
    if _param_words is None:
        merged = {}
        for name in ERROR_MESSAGE_MODULES:
            module = importlib.import_module(name)
            for code, words in getattr(module, "PARAM_WORDS", {}).items():
                merged[code] = (module.WORD_CONTEXT, words)
        _param_words = merged
    return _param_words


def translate_error(code: str, params: dict[str, Any]) -> str:
    messages = error_messages()
    template = messages.get(code)
    if template is None:
        template = messages.get(code.rsplit(".", 1)[0] + ".*", code)
    catalog = translations(get_locale())
    text = catalog.ugettext(template)
    if code in param_words():
        context, words = param_words()[code]
        params = {k: catalog.upgettext(context, words[k][v]) if k in words and isinstance(v, str) and v in words[k] else v
                  for k, v in params.items()}
    try:
        return text % params if "%(" in text else text
    except (KeyError, ValueError, TypeError):
        return text
