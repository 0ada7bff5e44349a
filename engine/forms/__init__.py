"""The form engine: definitions of order forms and the validation / computation of order data.

Public entry points (everything else is internal):
- `parse_definition(raw)`, `FormDefinition`, `FormField`, `FieldType`: the versioned definition;
- `validate_definition(defn) -> list[Issue]`, `check_definition(defn)`: may it be published?
- `validate_data(defn, data, *, locale, previous, default_tz, exists) -> FormResult`;
- `compute`, `visibility`, `requiredness`, `initial_data`, `line_totals`, `split_archived`;
- `compatibility(old, new) -> Compatibility`, `is_affected(compat, data)`;
- `render(code, params, locale)` and `MESSAGES`: the zh-CN / en message catalogue.
"""

from engine.forms.compat import Compatibility, TypeChange, compatibility, is_affected
from engine.forms.data import (
    FieldError,
    FormResult,
    compute,
    initial_data,
    line_totals,
    requiredness,
    split_archived,
    validate_data,
    visibility,
)
from engine.forms.definition import (
    LOCALES,
    SCHEMA_VERSION,
    FieldType,
    FormDefinition,
    FormField,
    Option,
    parse_definition,
    upgrade,
)
from engine.forms.issues import FormDefinitionError, Issue
from engine.forms.messages import MESSAGES, render
from engine.forms.validate import check_definition, validate_definition

__all__ = [
    "LOCALES", "MESSAGES", "SCHEMA_VERSION", "Compatibility", "FieldError", "FieldType", "FormDefinition",
    "FormDefinitionError", "FormField", "FormResult", "Issue", "Option", "TypeChange", "check_definition",
    "compatibility", "compute", "initial_data", "is_affected", "line_totals", "parse_definition", "render",
    "requiredness", "split_archived", "upgrade", "validate_data", "validate_definition", "visibility",
]
