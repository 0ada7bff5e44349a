"""E-mail bodies (text and HTML) in the recipient's language, from templates in notify/templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend import i18n

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), extensions=["jinja2.ext.i18n"])


def email_bodies(subject: str, text: str, *, locale: str = "zh_CN", link: str | None = None,
                 html: str | None = None, images: list[str] | None = None) -> tuple[str, str]:
    """(text, html) for an e-mail; `html` given by the caller wins over the template. `images` are
    the content ids of inline images (a scheduled report's chart), shown under the text."""
    locale = i18n.normalize(locale) or i18n.DEFAULT_LOCALE
    trans = i18n.translations(locale)
    _env.install_gettext_callables(trans.ugettext, trans.ungettext, newstyle=True)  # type: ignore[attr-defined]
    ctx = {"subject": subject, "text": text, "link": link, "lang": "zh-CN" if locale == "zh_CN" else "en",
           "paragraphs": [p for p in text.split("\n") if p.strip()], "images": images or []}
    return (_env.get_template("email.txt").render(ctx),
            html or _env.get_template("email.html").render(ctx))
