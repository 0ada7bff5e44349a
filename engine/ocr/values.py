"""Parsing the values a contract holds, as OCR reads them: numbers, money, dates, currencies."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

JUNK = "|[]{}«»“”‘’\"'`!;_—–~"

_NUMBER = re.compile(r"^[-+]?[\d,.]*\d[\d,.]*$")


def clean_token(token: str) -> str:
    return token.strip(JUNK + " ")


def parse_number(token: str) -> Decimal | None:
    """"1,234.50" → 1234.50; OCR's "22.980.69" (a comma read as a dot) → 22980.69; "1.234,50" stays
    unread (no contract here writes it). Currency signs around the number are dropped."""
    token = clean_token(token).lstrip("¥￥$€").removeprefix("RMB").removeprefix("USD").removeprefix("EUR")
    token = token.removeprefix("CNY").strip(":").rstrip(".,")
    if not token or not _NUMBER.match(token):
        return None
    token = re.sub(r"[.,](?=[.,])", "", token)  # "1,.698.65": one separator read twice
    if token.count(".") > 1:  # every dot but the last was a comma
        head, _, tail = token.rpartition(".")
        token = head.replace(".", "") + "." + tail
    token = token.replace(",", "")
    try:
        return Decimal(token)
    except InvalidOperation:
        return None


_YMD = re.compile(r"(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})\s*日?")
_MDY = re.compile(r"(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{4})")
_TIGHT = re.compile(r"(\d{4})年?(\d{1,2})月(\d{1,2})日?")


def parse_date(text: str) -> date | None:
    """The first date in `text`: 2026年12月7日, 2026-12-07, 2026/12/07, 2026.12.07 and 12/07/2026
    (month first, as US contracts write it; day first when the first number is over 12)."""
    for pattern in (_YMD, _TIGHT):
        m = pattern.search(text)
        if m:
            return _date(int(m[1]), int(m[2]), int(m[3]))
    m = _MDY.search(text)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        return _date(year, a, b) if a <= 12 else _date(year, b, a)
    return None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day) if 1900 <= year <= 2200 else None
    except ValueError:
        return None


CURRENCY_WORDS = (
    ("CNY", ("CNY", "RMB", "人民币", "¥", "￥", "元")),
    ("USD", ("USD", "US$", "美元", "$")),
    ("EUR", ("EUR", "€", "欧元")),
    ("HKD", ("HKD", "HK$", "港币")),
    ("JPY", ("JPY", "日元")),
    ("GBP", ("GBP", "£", "英镑")),
)


def find_currency(text: str) -> str | None:
    """The currency `text` names, codes before symbols (a "US$" is USD, not a bare "$")."""
    upper = text.upper()
    for code, words in CURRENCY_WORDS:
        if any(w in upper for w in words if len(w) > 1 and w.isascii()):
            return code
    for code, words in CURRENCY_WORDS:
        if any(w in text for w in words if not (len(w) > 1 and w.isascii())):
            return code
    return None
