"""Small transforms a connector mapping applies to a source value before the import's row parser
reads it (issue 13, mapping editor): date formats, units, value maps, split/join, case, defaults.

Pure: a transform chain is data (pydantic, bounded), `apply` turns one text into another or raises
TransformError with a code and params (the backend words them in the reader's language). No I/O;
the time zone comes in as an argument. Customer lookup by code is not a transform: the row parser's
customer step (code, then name) stays the one place that does it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

MAX_TRANSFORMS = 50  # per order field
MAX_MAP_ENTRIES = 500
MAX_TEXT = 10_000  # a value never grows past this (join, constant)
MAX_PATTERN = 60
MAX_JOIN_PATHS = 10
# the strftime directives a date pattern may use (enough for the formats sources write)
PATTERN_DIRECTIVES = frozenset("YymdHMSfbBjpIz%")
_NUMBER = re.compile(r"^[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,3})?$")
_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)  # Excel's serial 1 = 1900-01-01 (with its 1900 leap bug)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Short = Annotated[str, Field(max_length=200)]
Path = Annotated[str, Field(min_length=1, max_length=200)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateFormat(_Base):
    """Read a date written some other way into `YYYY-MM-DD HH:MM:SS` (in the mapping's zone)."""

    op: Literal["date"] = "date"
    format: Literal["pattern", "epoch_s", "epoch_ms", "excel"] = "pattern"
    pattern: Annotated[str, Field(max_length=MAX_PATTERN)] = ""  # strftime-like, e.g. %d/%m/%Y %H:%M


class Scale(_Base):
    """Multiply or divide a number (fen -> yuan: divide by 100; g -> kg: divide by 1000)."""

    op: Literal["scale"] = "scale"
    mode: Literal["multiply", "divide"] = "divide"
    by: Annotated[str, Field(min_length=1, max_length=40)] = "100"


class ValueMap(_Base):
    """Replace whole values (已签约 -> approval); others keep their value, get `default`, or are an
    error (`strict`)."""

    op: Literal["map"] = "map"
    values: dict[Short, Short] = Field(default_factory=dict, max_length=MAX_MAP_ENTRIES)
    default: Short | None = None
    strict: bool = False


class Split(_Base):
    """Keep one part of the value cut at `separator` (index 0 = first, -1 = last)."""

    op: Literal["split"] = "split"
    separator: Annotated[str, Field(min_length=1, max_length=10)] = "-"
    index: Annotated[int, Field(ge=-20, le=20)] = 0


class Join(_Base):
    """The value followed by the values at other paths of the record, with a separator (blanks skipped)."""

    op: Literal["join"] = "join"
    paths: list[Path] = Field(min_length=1, max_length=MAX_JOIN_PATHS)
    separator: Annotated[str, Field(max_length=10)] = " "


class Case(_Base):
    op: Literal["trim", "upper", "lower"]


class Default(_Base):
    """A value for records that have none at the path."""

    op: Literal["default"] = "default"
    value: Short


class Constant(_Base):
    """Always this value, whatever the record holds."""

    op: Literal["constant"] = "constant"
    value: Short


Transform = Annotated[DateFormat | Scale | ValueMap | Split | Join | Case | Default | Constant,
                      Field(discriminator="op")]
Chain = Annotated[list[Transform], Field(max_length=MAX_TRANSFORMS)]


class TransformError(ValueError):
    """A value a transform cannot turn: `code` names what, params say where (step, value)."""

    def __init__(self, code: str, **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params


def validate_chain(chain: list[Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """Every problem of a chain as (step number from 1, code, params): what the models cannot say."""
    issues: list[tuple[int, str, dict[str, Any]]] = []
    if len(chain) > MAX_TRANSFORMS:
        issues.append((MAX_TRANSFORMS + 1, "transform.too_many", {"max": MAX_TRANSFORMS}))
    for step, t in enumerate(chain[:MAX_TRANSFORMS], start=1):
        if isinstance(t, DateFormat) and t.format == "pattern":
            problem = _pattern_problem(t.pattern)
            if problem:
                issues.append((step, "transform.pattern_invalid", {"step": step, "pattern": t.pattern,
                                                                   "reason": problem}))
        elif isinstance(t, Scale):
            factor = _number(t.by)
            if factor is None or factor == 0 or abs(factor.adjusted()) > 12:
                issues.append((step, "transform.factor_invalid", {"step": step, "value": t.by}))
        elif isinstance(t, ValueMap) and len(t.values) > MAX_MAP_ENTRIES:
            issues.append((step, "transform.map_too_large", {"step": step, "max": MAX_MAP_ENTRIES}))
    return issues


def _pattern_problem(pattern: str) -> str:
    if not pattern.strip():
        return "empty"
    if len(pattern) > MAX_PATTERN:
        return "long"
    directives = re.findall(r"%(.)", pattern)
    if not directives or any(d not in PATTERN_DIRECTIVES for d in directives) or pattern.rstrip().endswith(
            "%") and not pattern.rstrip().endswith("%%"):
        return "directive"
    return ""


def _number(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", "")
    if not _NUMBER.match(cleaned):
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _plain(value: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros ('12.5', '3')."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".") or "0"


def apply(value: str, chain: list[Any], *, zone: ZoneInfo,
          lookup: Callable[[str], str] | None = None) -> str:
    """The value after each transform in turn; TransformError (with the step) at the first that fails.
    `lookup(path)` gives another path's value of the same record (for join)."""
    for step, t in enumerate(chain[:MAX_TRANSFORMS], start=1):
        value = _one(value, t, step, zone, lookup)
        if len(value) > MAX_TEXT:
            raise TransformError("transform.too_long", step=step, max=MAX_TEXT)
    return value


def _one(value: str, t: Any, step: int, zone: ZoneInfo, lookup: Callable[[str], str] | None) -> str:
    shown = value[:60]
    if isinstance(t, Case):
        return value.strip() if t.op == "trim" else value.upper() if t.op == "upper" else value.lower()
    if isinstance(t, Default):
        return value if value.strip() else t.value
    if isinstance(t, Constant):
        return t.value
    if not value.strip():
        return value  # nothing to convert: the parser reports a missing value where one is required
    if isinstance(t, ValueMap):
        key = value.strip()
        if key in t.values:
            return t.values[key]
        if t.strict:
            raise TransformError("transform.value_unmapped", step=step, value=shown)
        return t.default if t.default is not None else value
    if isinstance(t, Split):
        parts = value.split(t.separator)
        if not -len(parts) <= t.index < len(parts):
            raise TransformError("transform.split_missing", step=step, value=shown, index=t.index,
                                 separator=t.separator)
        return parts[t.index].strip()
    if isinstance(t, Join):
        values = [value] + [(lookup(p) if lookup else "") for p in t.paths]
        return t.separator.join(v for v in values if v.strip())
    if isinstance(t, Scale):
        return _scale(value, t, step)
    if isinstance(t, DateFormat):
        return _date(value.strip(), t, step, zone)
    raise TransformError("transform.unknown", step=step)  # pragma: no cover - the models forbid it


def _scale(value: str, t: Scale, step: int) -> str:
    number = _number(value)
    factor = _number(t.by)
    if number is None or abs(number.adjusted()) > 30:
        raise TransformError("transform.not_a_number", step=step, value=value[:60])
    if factor is None or factor == 0 or abs(factor.adjusted()) > 12:
        raise TransformError("transform.factor_invalid", step=step, value=t.by)
    result = number * factor if t.mode == "multiply" else number / factor
    return _plain(result.quantize(Decimal("1e-12")) if result.as_tuple().exponent < -12 else result)


def _date(text: str, t: DateFormat, step: int, zone: ZoneInfo) -> str:
    try:
        if t.format == "pattern":
            if _pattern_problem(t.pattern) or len(text) > 100:
                raise ValueError
            local = datetime.strptime(text, t.pattern)
            if local.tzinfo is not None:
                local = local.astimezone(zone).replace(tzinfo=None)
        else:
            number = _number(text)
            if number is None:
                raise ValueError
            if t.format == "excel":
                if not 1 <= number < 2_958_466:  # 9999-12-31
                    raise ValueError
                local = (_EXCEL_EPOCH + timedelta(days=float(number))).replace(tzinfo=None)
            else:
                seconds = number / 1000 if t.format == "epoch_ms" else number
                if not -62_135_596_800 < seconds < 253_402_300_800:  # years 1..9999
                    raise ValueError
                local = (_EPOCH + timedelta(seconds=float(seconds))).astimezone(zone).replace(tzinfo=None)
    except (ValueError, OverflowError, InvalidOperation):
        raise TransformError("transform.date_unreadable", step=step, value=text[:60],
                             pattern=t.pattern if t.format == "pattern" else t.format) from None
    return local.replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S")
