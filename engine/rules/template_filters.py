"""Filters of rule message templates: money, dates and numbers as a reader expects them.

Pure and language-aware without Babel (the engine imports no backend): the context of every
rendering carries `_lang` ("zh" or "en") and `_zone` (the installation's time zone), set by
engine/rules/template_context.py, and the filters read them.

- `{{ order.amount | money }}`: ¥6,000.00 for a Chinese reader, 6,000.00 CNY for an English one
  (the currency defaults to the order's; `money("USD")` names another).
- `{{ order.created_at | date }}`: the local date in the installation's zone (2026年12月6日 /
  Dec 6, 2026); `date("iso")` gives 2026-12-06.
- `{{ x | number }}` groups thousands and drops a trailing `.0`; every printed float drops it too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context

__all__ = ["FILTERS", "format_money", "format_number", "format_date"]

# Symbols a Chinese reader knows; other currencies keep their code after the amount.
_ZH_SYMBOLS = {"CNY": "¥", "RMB": "¥", "USD": "US$", "EUR": "€", "GBP": "£", "JPY": "JP¥", "HKD": "HK$"}
_NO_DECIMALS = {"JPY", "KRW", "VND"}
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def format_number(value: Any, digits: int | None = None, grouping: bool = False) -> str:
    """A number as people write it: 6000.0 → 6000, 0.1 + 0.2 → 0.3, with `digits` decimals when given."""
    number = _as_number(value)
    if number is None:
        return "" if value is None else str(value)
    if isinstance(number, float) and (number != number or number in (float("inf"), float("-inf"))):
        return str(number)
    sep = "," if grouping else ""
    if digits is not None:
        return format(number, f"{sep}.{max(0, min(int(digits), 10))}f")
    if isinstance(number, int) or (abs(number) < 1e15 and float(number).is_integer()):
        return format(int(number), sep or "d") if sep else str(int(number))
    text = format(number, f"{sep}.10f").rstrip("0").rstrip(".") if abs(number) < 1e15 else repr(number)
    return text


def format_money(value: Any, currency: str | None, lang: str) -> str:
    """¥6,000.00 (zh, known symbol), 6,000.00 CNY (en, or a currency without a symbol); empty for no value."""
    number = _as_number(value)
    if number is None:
        return ""
    code = (currency or "").strip().upper()[:8]
    digits = 0 if code in _NO_DECIMALS else 2
    amount = format_number(abs(number), digits, grouping=True)
    sign = "-" if number < 0 else ""
    if lang == "zh" and code in _ZH_SYMBOLS:
        return f"{sign}{_ZH_SYMBOLS[code]}{amount}"
    return f"{sign}{amount} {code}".rstrip()


def _parse_moment(value: Any) -> date | datetime | None:
    if isinstance(value, (date, datetime)):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value) if "T" in value or " " in value.strip() else date.fromisoformat(value)
        except ValueError:
            return None
    return None


def format_date(value: Any, lang: str, zone: str = "Asia/Shanghai", style: str = "medium") -> str:
    """A date or moment as the local date in `zone`: 2026年12月6日 / Dec 6, 2026, or 2026-12-06 for
    style "iso". Text that is not a date comes back unchanged; None is empty."""
    moment = _parse_moment(value)
    if moment is None:
        return "" if value is None else str(value)
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(ZoneInfo(zone))
            except (ZoneInfoNotFoundError, ValueError):
                pass
        moment = moment.date()
    if style == "iso":
        return moment.isoformat()
    if lang == "zh":
        return f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{_EN_MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


@pass_context
def _money(context: Any, value: Any, currency: str | None = None) -> str:
    if currency is None:
        order = context.get("order")
        currency = order.get("currency") if isinstance(order, dict) else None
    return format_money(value, currency if isinstance(currency, str) else None, context.get("_lang") or "zh")


@pass_context
def _date(context: Any, value: Any, style: str = "medium") -> str:
    return format_date(value, context.get("_lang") or "zh", context.get("_zone") or "Asia/Shanghai", str(style))


def _number(value: Any, digits: int | None = None) -> str:
    return format_number(value, digits, grouping=True)


FILTERS = {"money": _money, "date": _date, "number": _number}
