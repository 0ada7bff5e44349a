"""FormDefinition: the order form a company designs, as frozen, versioned data.

Why one `FormField` model with optional properties instead of one class per type: the designer
edits fields generically (change the type in the properties panel, keep label and width), and a
definition with a property that does not fit its type is reported by `validate_definition` as an
issue the designer can show next to the field, rather than being rejected by the parser.

Stored JSON carries `schema_version`; `upgrade(raw)` walks the chain of `upgrade_vN_to_vN1`
functions so definitions exported by older installations still load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.forms.issues import FormDefinitionError, Issue

LOCALES = ("zh-CN", "en")
SCHEMA_VERSION = 2

Localized = dict[str, str]
"""Text users design, per locale: {"zh-CN": "计划交期", "en": "Planned delivery"}."""


class FieldType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    MONEY = "money"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"
    CHECKBOX = "checkbox"
    USER = "user"
    DEPARTMENT = "department"
    CUSTOMER = "customer"
    PHONE = "phone"
    EMAIL = "email"
    ATTACHMENT = "attachment"
    IMAGE = "image"
    LINE_ITEMS = "line_items"
    COMPUTED = "computed"
    SECTION = "section"
    DESCRIPTION = "description"


NUMERIC_TYPES = frozenset({FieldType.NUMBER, FieldType.MONEY, FieldType.PERCENT})
SELECT_TYPES = frozenset({FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT})
REFERENCE_TYPES = frozenset({FieldType.USER, FieldType.DEPARTMENT, FieldType.CUSTOMER})
FILE_TYPES = frozenset({FieldType.ATTACHMENT, FieldType.IMAGE})
TEXT_TYPES = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.PHONE, FieldType.EMAIL})
LAYOUT_TYPES = frozenset({FieldType.SECTION, FieldType.DESCRIPTION})
"""Layout items hold no data: a heading or a paragraph of text on the form."""
UNIQUE_TYPES = frozenset(
    {FieldType.TEXT, FieldType.NUMBER, FieldType.PHONE, FieldType.EMAIL, FieldType.DATE}
)
"""Types whose values can be compared across orders for `unique` (the backend checks it)."""
COLUMN_TYPES = frozenset(FieldType) - LAYOUT_TYPES - {FieldType.LINE_ITEMS}
"""Types allowed as columns of a line-items table (no nesting, no layout)."""
COMPUTED_RESULT_TYPES = ("number", "money", "percent", "text", "date", "checkbox")


class Option(BaseModel):
    """One choice of a select field. `value` is stored in order data; `label` is shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str
    label: Localized = Field(default_factory=dict)
    color: str | None = None


class FormField(BaseModel):
    """A field (or layout item) of the form. Which properties apply depends on `type`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    type: FieldType
    label: Localized = Field(default_factory=dict)
    help: Localized = Field(default_factory=dict)
    placeholder: Localized = Field(default_factory=dict)
    content: Localized = Field(default_factory=dict)
    """Text of a `description` item."""
    required: bool = False
    required_if: Any = None
    visible_if: Any = None
    default: Any = None
    min: float | None = None
    """Smallest number; for multi select / files / line items: fewest entries; for dates: see min_date."""
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    min_date: str | None = None
    max_date: str | None = None
    options: tuple[Option, ...] = ()
    read_only: bool = False
    unique: bool = False
    width: Literal[1, 2, 3] = 1
    """How many fields share this field's row: 1 = full width, 2 = half, 3 = a third."""
    decimals: int | None = None
    currency: str | None = None
    """Money: ISO 4217 code of the amount (default CNY)."""
    max_file_size: int | None = None
    """Attachment / image: largest file in bytes."""
    columns: tuple[FormField, ...] = ()
    """Line items: the columns of each row (a sub-form)."""
    totals: tuple[str, ...] = ()
    """Line items: keys of numeric columns summed under the table."""
    expression: Any = None
    """Computed: a JSON-logic expression over other fields."""
    result_type: str | None = None
    """Computed: number / money / percent / text / date / checkbox (default number)."""

    @property
    def holds_data(self) -> bool:
        return self.type not in LAYOUT_TYPES

    def text(self, prop: str, locale: str) -> str:
        """A localized property (`label`, `help`, ...) in `locale`, falling back to any locale."""
        values: Localized = getattr(self, prop)
        return values.get(locale) or next((v for v in values.values() if v), "")

    def column(self, key: str) -> FormField | None:
        return next((c for c in self.columns if c.key == key), None)


class FormDefinition(BaseModel):
    """One version of a company's order form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[2] = SCHEMA_VERSION
    key: str
    version: int = 1
    title: Localized = Field(default_factory=dict)
    fields: tuple[FormField, ...] = ()

    def field(self, key: str) -> FormField | None:
        return next((f for f in self.fields if f.key == key), None)

    def data_fields(self) -> Iterator[FormField]:
        """Fields that hold a value in order data (layout items left out)."""
        return (f for f in self.fields if f.holds_data)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)


# --- stored schema versions -------------------------------------------------------------------


def upgrade_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """v1 stored label / help / placeholder as one plain string and called the single select
    `select`; v2 stores every user-facing text per locale and names both select types."""

    def localize(value: Any) -> Any:
        return {locale: value for locale in LOCALES} if isinstance(value, str) else value

    def field(f: dict[str, Any]) -> dict[str, Any]:
        f = dict(f)
        for prop in ("label", "help", "placeholder", "content"):
            if prop in f:
                f[prop] = localize(f[prop])
        if f.get("type") == "select":
            f["type"] = FieldType.SINGLE_SELECT.value
        if isinstance(f.get("options"), list):
            f["options"] = [
                {"value": o, "label": localize(o)} if isinstance(o, str) else
                {**o, "label": localize(o.get("label", o.get("value", "")))}
                for o in f["options"]
            ]
        if isinstance(f.get("columns"), list):
            f["columns"] = [field(c) if isinstance(c, dict) else c for c in f["columns"]]
        return f

    out = dict(raw)
    out["title"] = localize(out.get("title", {}))
    out["fields"] = [field(f) if isinstance(f, dict) else f for f in raw.get("fields", [])]
    out["schema_version"] = 2
    return out


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: upgrade_v1_to_v2}


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring stored definition JSON to SCHEMA_VERSION (a missing schema_version means current)."""
    version = raw.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version < 1 or version > SCHEMA_VERSION:
        raise FormDefinitionError(
            [Issue("schema_version", "form.schema_version_unknown", {"version": version,
                                                                      "max": SCHEMA_VERSION})]
        )
    while version < SCHEMA_VERSION:
        raw = UPGRADES[version](raw)
        version += 1
    return raw


def parse_definition(raw: dict[str, Any] | str | bytes) -> FormDefinition:
    """Upgrade and parse stored or imported JSON; shape errors raise FormDefinitionError with
    one issue per problem (path like `fields[2].type`)."""
    if isinstance(raw, str | bytes):
        import json

        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise FormDefinitionError([Issue("", "form.json_invalid", {"detail": str(exc)})]) from exc
    if not isinstance(raw, dict):
        raise FormDefinitionError([Issue("", "form.json_invalid", {"detail": "not an object"})])
    raw = upgrade(raw)
    try:
        return FormDefinition.model_validate(raw)
    except ValidationError as exc:
        raise FormDefinitionError([_issue_from_pydantic(e) for e in exc.errors()]) from exc


def _issue_from_pydantic(error: Any) -> Issue:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in FieldType._value2member_map_ or part.startswith("function-"):
            continue  # pydantic's tag for a union branch, not a path segment
        else:
            path += f".{part}" if path else str(part)
    code = "form.property_unknown" if error["type"] == "extra_forbidden" else "form.property_invalid"
    return Issue(path, code, {"detail": error["msg"]})
