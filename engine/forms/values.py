"""Cleaning one submitted value against its field: type, range, length, pattern, options.

Values arrive as JSON from the API or as strings from an HTML form, so numbers, booleans and ids
are accepted as strings too; what is stored is always the canonical JSON shape documented in
docs/forms.md (numbers as numbers, dates as `YYYY-MM-DD`, date-times as UTC `...Z`, selects as
option values, files as lists of `{id, name, size, content_type}`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from engine.forms.definition import FieldType, FormField
from engine.forms.issues import Issue
from engine.jsonlogic import is_truthy

TEXT_MAX_LENGTH = 500
LONG_TEXT_MAX_LENGTH = 10_000
MAX_FILES = 20
MONEY_DECIMALS = 2

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PHONE = re.compile(r"^\+?[0-9(][0-9 ()\-]{3,28}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}

ExistsFn = Callable[[str, set[int]], set[int]]
"""exists(kind, ids) -> the ids that exist; kind is `user`, `department` or `customer`."""


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def decimals_of(f: FormField) -> int | None:
    if f.decimals is not None:
        return f.decimals
    if f.type == FieldType.MONEY or f.result_type == "money":
        return MONEY_DECIMALS
    return None


def clean_value(
    f: FormField, raw: Any, path: str, *, default_tz: tzinfo | None = None
) -> tuple[Any, list[Issue]]:
    """(canonical value or None when empty, issues). Requiredness is checked by the caller."""
    if f.type == FieldType.CHECKBOX:
        return _checkbox(f, raw, path)
    if is_empty(raw):
        return None, []
    cleaner = _CLEANERS.get(f.type)
    if cleaner is None:
        return None, []  # computed and layout items take no input
    return cleaner(f, raw, path, default_tz)


def _issue(path: str, f: FormField, code: str, **params: Any) -> list[Issue]:
    return [Issue(path, code, {"field": f.key, **params})]


def _text(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    if not isinstance(raw, str):
        return None, _issue(path, f, "form.text_invalid")
    limit = f.max_length
    if limit is None:
        limit = LONG_TEXT_MAX_LENGTH if f.type == FieldType.LONG_TEXT else TEXT_MAX_LENGTH
    value = raw.strip() if f.type != FieldType.LONG_TEXT else raw
    if len(value) > limit:
        return None, _issue(path, f, "form.text_too_long", max=limit, length=len(value))
    if f.min_length is not None and len(value) < f.min_length:
        return None, _issue(path, f, "form.text_too_short", min=f.min_length, length=len(value))
    if f.pattern and re.fullmatch(f.pattern, value) is None:
        return None, _issue(path, f, "form.pattern_mismatch", pattern=f.pattern)
    if f.type == FieldType.PHONE and (
        _PHONE.match(value) is None or not 5 <= sum(c.isdigit() for c in value) <= 20
    ):
        return None, _issue(path, f, "form.phone_invalid")
    if f.type == FieldType.EMAIL and (len(value) > 254 or _EMAIL.match(value) is None):
        return None, _issue(path, f, "form.email_invalid")
    return value, []


def to_number(raw: Any) -> float | int | None:
    """A finite number from a JSON number or a numeric string, else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, Decimal):  # JSON bodies parsed with parse_float=Decimal (webhooks, exact money)
        if not raw.is_finite():
            return None
        return int(raw) if raw.as_tuple().exponent >= 0 else float(raw)
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        try:
            value = float(raw.strip().replace(",", ""))
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value
    return None


def normalize_number(value: float | int, decimals: int | None) -> float | int:
    """Round away float noise (0.1 * 3) and store integral values as integers."""
    value = round(value, decimals if decimals is not None else 10)
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _number(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    value = to_number(raw)
    if value is None:
        return None, _issue(path, f, "form.number_invalid")
    decimals = decimals_of(f)
    if decimals is not None and round(value, decimals) != value:
        return None, _issue(path, f, "form.too_many_decimals", decimals=decimals)
    if f.min is not None and value < f.min:
        return None, _issue(path, f, "form.number_too_small", min=_show(f.min))
    if f.max is not None and value > f.max:
        return None, _issue(path, f, "form.number_too_large", max=_show(f.max))
    return normalize_number(value, decimals), []


def _show(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def parse_date(raw: Any) -> date | None:
    if not isinstance(raw, str) or not _DATE.match(raw.strip()):
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def parse_datetime(raw: Any, default_tz: tzinfo | None = None) -> datetime | None:
    """An aware datetime from ISO 8601, or None (also None when naive and no default_tz)."""
    if not isinstance(raw, str) or len(raw.strip()) < 16:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        if default_tz is None:
            return None
        value = value.replace(tzinfo=default_tz)
    return value


def _date(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    value = parse_date(raw)
    if value is None:
        return None, _issue(path, f, "form.date_invalid")
    if f.min_date and value < date.fromisoformat(f.min_date):
        return None, _issue(path, f, "form.date_too_early", min=f.min_date)
    if f.max_date and value > date.fromisoformat(f.max_date):
        return None, _issue(path, f, "form.date_too_late", max=f.max_date)
    return value.isoformat(), []


def _datetime(f: FormField, raw: Any, path: str, default_tz: tzinfo | None) -> tuple[Any, list[Issue]]:
    value = parse_datetime(raw, default_tz)
    if value is None:
        naive = parse_datetime(raw, UTC) is not None
        return None, _issue(path, f, "form.datetime_timezone_missing" if naive else "form.datetime_invalid")
    value = value.astimezone(UTC)
    if f.min_date and value < _bound(f.min_date):
        return None, _issue(path, f, "form.date_too_early", min=f.min_date)
    if f.max_date and value > _bound(f.max_date, end=True):
        return None, _issue(path, f, "form.date_too_late", max=f.max_date)
    return value.isoformat().replace("+00:00", "Z"), []


def _bound(text: str, end: bool = False) -> datetime:
    if _DATE.match(text):
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, 23 if end else 0, 59 if end else 0, 59 if end else 0,
                        tzinfo=UTC)
    return parse_datetime(text, UTC) or datetime.min.replace(tzinfo=UTC)


def _single_select(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    if not isinstance(raw, str):
        return None, _issue(path, f, "form.option_unknown", value=str(raw))
    if raw not in {o.value for o in f.options}:
        return None, _issue(path, f, "form.option_unknown", value=raw)
    return raw, []


def _multi_select(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None, _issue(path, f, "form.choices_invalid")
    allowed = [o.value for o in f.options]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        return None, _issue(path, f, "form.option_unknown", value=", ".join(unknown))
    chosen = [v for v in allowed if v in values]  # option order, duplicates gone
    if f.min is not None and len(chosen) < f.min:
        return None, _issue(path, f, "form.too_few_choices", min=_show(f.min))
    if f.max is not None and len(chosen) > f.max:
        return None, _issue(path, f, "form.too_many_choices", max=_show(f.max))
    return chosen, []


def _checkbox(f: FormField, raw: Any, path: str) -> tuple[Any, list[Issue]]:
    if is_empty(raw):
        return False, []  # an HTML form sends nothing for an unchecked box
    if isinstance(raw, bool):
        return raw, []
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE, []
    return None, _issue(path, f, "form.checkbox_invalid")


def _reference(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    value = to_number(raw)
    if not isinstance(value, int) or value <= 0:
        return None, _issue(path, f, "form.reference_invalid", value=str(raw))
    return value, []


def _files(f: FormField, raw: Any, path: str, _tz: Any) -> tuple[Any, list[Issue]]:
    files = [raw] if isinstance(raw, dict) else raw
    if not isinstance(files, list):
        return None, _issue(path, f, "form.file_invalid")
    cleaned: list[dict[str, Any]] = []
    issues: list[Issue] = []
    for i, item in enumerate(files):
        item_path = f"{path}[{i}]"
        if not (
            isinstance(item, dict)
            and isinstance(item.get("id"), str) and item["id"]
            and isinstance(item.get("name"), str) and item["name"]
            and isinstance(item.get("size"), int) and not isinstance(item["size"], bool) and item["size"] >= 0
            and isinstance(item.get("content_type", ""), str)
        ):
            issues += _issue(item_path, f, "form.file_invalid")
            continue
        content_type = item.get("content_type") or "application/octet-stream"
        if f.type == FieldType.IMAGE and not content_type.startswith("image/"):
            issues += _issue(item_path, f, "form.image_type_invalid", name=item["name"])
            continue
        if f.max_file_size is not None and item["size"] > f.max_file_size:
            issues += _issue(item_path, f, "form.file_too_large", name=item["name"], max=f.max_file_size)
            continue
        cleaned.append({"id": item["id"], "name": item["name"], "size": item["size"],
                        "content_type": content_type})
    if issues:
        return None, issues
    most = int(f.max) if f.max is not None else MAX_FILES
    if len(cleaned) > most:
        return None, _issue(path, f, "form.too_many_files", max=most)
    if f.min is not None and len(cleaned) < f.min:
        return None, _issue(path, f, "form.too_few_files", min=_show(f.min))
    return cleaned or None, []


_CLEANERS: dict[FieldType, Callable[[FormField, Any, str, Any], tuple[Any, list[Issue]]]] = {
    FieldType.TEXT: _text,
    FieldType.LONG_TEXT: _text,
    FieldType.PHONE: _text,
    FieldType.EMAIL: _text,
    FieldType.NUMBER: _number,
    FieldType.MONEY: _number,
    FieldType.PERCENT: _number,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.SINGLE_SELECT: _single_select,
    FieldType.MULTI_SELECT: _multi_select,
    FieldType.USER: _reference,
    FieldType.DEPARTMENT: _reference,
    FieldType.CUSTOMER: _reference,
    FieldType.ATTACHMENT: _files,
    FieldType.IMAGE: _files,
}


def coerce_result(f: FormField, value: Any) -> Any:
    """A computed field's result in its `result_type` (number by default); None when it has none."""
    kind = f.result_type or "number"
    if kind in ("number", "money", "percent"):
        number = to_number(value)
        return None if number is None else normalize_number(number, decimals_of(f))
    if kind == "text":
        return None if value is None else (value if isinstance(value, str) else _json_text(value))
    if kind == "date":
        d = parse_date(value)
        return d.isoformat() if d else None
    if kind == "checkbox":
        return is_truthy(value)
    return None


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
