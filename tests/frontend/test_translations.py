"""Every user-facing string has a Chinese translation with the same placeholders.

msgids are extracted the way `pybabel extract -F babel.cfg` does (the methods and options of
babel.cfg at the repo root), from the files matched by SCOPE. Widen SCOPE as areas finish their
catalogs (frontend/locale/zh_CN/LC_MESSAGES/<area>.po; every .po of a locale is merged).
"""

from __future__ import annotations

import ast
import re
from configparser import RawConfigParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parents[2]

# Files whose strings must be translated (globs relative to the repo root). Add yours here.
SCOPE = [
    "frontend/pages/*.py",
    "frontend/templates/*.html",
    "frontend/templates/auth/*.html",
    "frontend/templates/orders/list.html",
    "frontend/templates/orders/detail.html",
    "frontend/templates/admin/*.html",
    "frontend/templates/dashboard/*.html",
    "designer/templates/rules/*.html",
    "designer/pages/rules.py",
    "designer/templates/reports/*.html",
    "designer/pages/reports.py",
    "designer/pages/dashboards.py",
    "backend/rules/sentences.py",
    "backend/rules/summary.py",
    "designer/templates/flows/*.html",
    "designer/pages/flows.py",
    "frontend/pages/order_flow.py",
    "frontend/templates/orders/_flow*.html",
    "frontend/templates/orders/_customer_messages.html",
    "frontend/templates/tracking/*.html",
    "frontend/templates/customers/*.html",
    "frontend/templates/inbox/*.html",
    "frontend/templates/orders/_conversation.html",
    "backend/inbox/service_customer.py",
    "frontend/templates/imports/*.html",
    "frontend/templates/connectors/*.html",
    "frontend/templates/portal/*.html",
    "backend/portal/service.py",
    "backend/portal/access.py",
    "designer/pages/whatif.py",
    "designer/pages/flow_whatif.py",
]
# Modules whose error-message registries ({code: English template}) must be translated too.
ERROR_MESSAGE_SOURCES = ["backend/i18n.py", "backend/rules/messages.py", "backend/flows/messages.py",
                         "backend/tracking/error_messages.py", "backend/ingest/messages.py", "backend/params.py",
                         "backend/pipeline.py", "backend/installation/messages.py",
                         "backend/connectors/messages.py", "backend/portal/messages.py",
                         "backend/replay/messages.py"]

LOCALE = "zh_CN"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")


def _babel_mapping() -> list[tuple[str, str, dict[str, str]]]:
    """(pattern, method, options) from babel.cfg, in file order (the first match wins)."""
    parser = RawConfigParser()
    parser.read(ROOT / "babel.cfg")
    mapping = []
    for section in parser.sections():
        method, pattern = (part.strip() for part in section.split(":", 1))
        if method == "jinja2":
            method = "jinja2.ext:babel_extract"
        mapping.append((pattern, method, dict(parser.items(section))))
    return mapping


def _scoped_files() -> list[Path]:
    files = {p for pattern in SCOPE for p in ROOT.glob(pattern) if p.is_file()}
    return sorted(files)


def extract_msgids() -> dict[str | tuple[str, str], list[str]]:
    """msgid (or singular of a plural; (context, msgid) for pgettext) -> where it is used."""
    mapping = _babel_mapping()
    found: dict[str, list[str]] = {}
    for path in _scoped_files():
        rel = path.relative_to(ROOT).as_posix()
        match = next(((method, options) for pattern, method, options in mapping if pathmatch(pattern, rel)), None)
        assert match is not None, f"{rel} is in SCOPE but babel.cfg has no extraction method for it"
        method, options = match
        for lineno, message, _comments, context in extract_from_file(method, str(path), keywords=DEFAULT_KEYWORDS,
                                                                     options=options):
            msgid = message[0] if isinstance(message, tuple) else message  # a plural is keyed by its singular
            if msgid:
                found.setdefault((context, msgid) if context else msgid, []).append(f"{rel}:{lineno}")
    return found


def error_message_templates() -> dict[str, str]:
    """English templates of the error codes in ERROR_MESSAGE_SOURCES (dict literals assigned to
    ERROR_MESSAGES, the name backend/i18n.py reads)."""
    out: dict[str, str] = {}
    for pattern in ERROR_MESSAGE_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                target = None
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Name) and t.id == "ERROR_MESSAGES" for t in targets):
                        target = node.value
                if target is None:
                    continue
                for key, value in zip(target.keys, target.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                        out[key.value] = value.value
    return out


def load_catalog() -> dict[str | tuple[str, str], str | tuple]:
    merged: dict[str | tuple[str, str], str | tuple] = {}
    for po in sorted((ROOT / "frontend" / "locale" / LOCALE / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=LOCALE)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            key = message.id[0] if isinstance(message.id, (tuple, list)) else message.id
            if message.context:
                key = (message.context, key)
            strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
            if all(strings):
                merged[key] = message.string
    return merged


def load_own_catalog() -> dict[str, str]:
    """The shell's own catalog (messages.po), singular strings only."""
    with (ROOT / "frontend" / "locale" / LOCALE / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=LOCALE)
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string and not m.context}


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


class TestExtraction:
    def test_finds_strings_in_templates_python_and_plurals(self):
        msgids = extract_msgids()
        assert "Sign in to Gendan" in msgids  # a template
        assert "Technical confirmation" in msgids  # N_() in Python
        assert "%(num)d day late" in msgids  # ngettext in a template
        assert ("role", "Designer") in msgids  # pgettext in Python
        assert len(msgids) > 150

    def test_error_registry_is_read(self):
        templates = error_message_templates()
        assert templates["order.not_found"] == "Order %(id)s was not found."
        assert "user.cannot_deactivate_self" in templates


class TestChineseCatalog:
    def test_every_msgid_is_translated(self):
        catalog = load_catalog()
        missing = {msgid: where for msgid, where in extract_msgids().items() if msgid not in catalog}
        assert not missing, "no zh_CN translation for:\n" + "\n".join(
            f"  {m!r} ({', '.join(w[:2])})" for m, w in sorted(missing.items()))

    def test_every_error_message_is_translated(self):
        catalog = load_catalog()
        missing = {code: text for code, text in error_message_templates().items() if text not in catalog}
        assert not missing, "no zh_CN translation for error messages:\n" + "\n".join(
            f"  {code}: {text!r}" for code, text in sorted(missing.items()))

    @pytest.mark.parametrize("source", ["templates", "errors"])
    def test_translations_keep_the_placeholders(self, source):
        catalog = load_catalog()
        msgids = extract_msgids() if source == "templates" else {t: [] for t in error_message_templates().values()}
        wrong = []
        for key in msgids:
            translated = catalog.get(key)
            if translated is None:
                continue
            msgid = key[1] if isinstance(key, tuple) else key
            for text in translated if isinstance(translated, tuple) else (translated,):
                if not _placeholders(text) <= _placeholders(msgid) | {"num"}:
                    wrong.append((msgid, text))
                elif not isinstance(translated, tuple) and _placeholders(text) != _placeholders(msgid):
                    wrong.append((msgid, text))
        assert not wrong, wrong

    def test_no_other_catalog_changes_the_shells_wording(self):
        """All catalogs of a locale are merged and a msgid has one translation: when another area
        translates the same English word differently ("Number": 数字 for a field type, 单号 for an
        order), the shell would show theirs. Such words need a distinct msgid."""
        from backend.i18n import translations

        runtime = translations(LOCALE)
        scoped = extract_msgids()
        clashes = {msgid: (own, runtime.ugettext(msgid)) for msgid, own in load_own_catalog().items()
                   if msgid in scoped and runtime.ugettext(msgid) != own}
        assert not clashes, clashes


def test_a_context_keeps_the_role_apart_from_the_designer_pages():
    from backend import i18n
    from frontend.pages.common import role_label

    token = i18n.set_locale("zh_CN")
    try:
        assert role_label("designer") == "设计人员"
        assert i18n.gettext("Designer") == "设计器"
    finally:
        i18n.reset_locale(token)
    token = i18n.set_locale("en")
    try:
        assert role_label("designer") == "Designer"
    finally:
        i18n.reset_locale(token)
