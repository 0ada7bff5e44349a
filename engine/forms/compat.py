"""What publishing a new form version does to orders created with the old one.

Orders keep the version they were created with, so most changes are harmless. Two kinds matter:
- a field (or line-item column) removed: its data stays in orders and is shown as archived;
- a type change whose stored values the new type cannot read (a date becoming a number, a
  single select becoming a multi select): incompatible. The backend counts orders that hold a
  value for such a field (`is_affected`) and refuses publishing with that number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.forms.definition import FieldType, FormDefinition, FormField
from engine.forms.values import is_empty

T = FieldType
_NUMERIC = {T.NUMBER, T.MONEY, T.PERCENT}
_TEXTUAL = {T.TEXT, T.LONG_TEXT}
COMPATIBLE_CHANGES: frozenset[tuple[FieldType, FieldType]] = frozenset(
    {(a, b) for a in _NUMERIC for b in _NUMERIC}
    | {(T.TEXT, T.LONG_TEXT), (T.PHONE, T.TEXT), (T.PHONE, T.LONG_TEXT), (T.EMAIL, T.TEXT),
       (T.EMAIL, T.LONG_TEXT), (T.IMAGE, T.ATTACHMENT)}
    | {(T.COMPUTED, b) for b in _NUMERIC | _TEXTUAL | {T.DATE, T.CHECKBOX}}
    | {(a, T.COMPUTED) for a in FieldType}
)
"""(old, new) type pairs whose stored values stay valid. A field that becomes computed is
recomputed, so it never breaks an order; a computed field that becomes an input keeps the last
computed value as its value."""


@dataclass(frozen=True)
class TypeChange:
    path: str
    """`key`, or `table.column` for a line-item column."""
    old_type: str
    new_type: str


@dataclass(frozen=True)
class Compatibility:
    incompatible: tuple[TypeChange, ...] = ()
    archived: tuple[str, ...] = ()
    """Fields / columns of the old version that the new one no longer has."""
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    """Fields present in both whose definition differs (label, options, rules, ...)."""
    removed_options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Select options dropped: old orders may still hold them (shown, not re-selectable)."""

    @property
    def is_compatible(self) -> bool:
        return not self.incompatible

    def to_json(self) -> dict[str, Any]:
        return {
            "incompatible": [vars(c) for c in self.incompatible],
            "archived": list(self.archived),
            "added": list(self.added),
            "changed": list(self.changed),
            "removed_options": {k: list(v) for k, v in self.removed_options.items()},
        }


def compatibility(old: FormDefinition, new: FormDefinition) -> Compatibility:
    """Compare two versions of a form (old -> new)."""
    incompatible: list[TypeChange] = []
    archived: list[str] = []
    added: list[str] = []
    changed: list[str] = []
    removed_options: dict[str, tuple[str, ...]] = {}
    _compare(list(old.data_fields()), list(new.data_fields()), "", incompatible, archived, added, changed,
             removed_options)
    return Compatibility(tuple(incompatible), tuple(archived), tuple(added), tuple(changed), removed_options)


def _compare(old: list[FormField], new: list[FormField], prefix: str, incompatible: list[TypeChange],
             archived: list[str], added: list[str], changed: list[str],
             removed_options: dict[str, tuple[str, ...]]) -> None:
    new_by_key = {f.key: f for f in new}
    old_keys = {f.key for f in old}
    for o in old:
        path = prefix + o.key
        n = new_by_key.get(o.key)
        if n is None:
            archived.append(path)
            continue
        if n != o:
            changed.append(path)
        if o.type != n.type and (o.type, n.type) not in COMPATIBLE_CHANGES:
            incompatible.append(TypeChange(path, o.type.value, n.type.value))
            continue
        if o.type == n.type == FieldType.LINE_ITEMS:
            _compare(list(o.columns), list(n.columns), path + ".", incompatible, archived, added, changed,
                     removed_options)
        gone = tuple(v.value for v in o.options if v.value not in {x.value for x in n.options})
        if gone and n.type in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT):
            removed_options[path] = gone
    added += [prefix + f.key for f in new if f.key not in old_keys]


def is_affected(compat: Compatibility, data: Mapping[str, Any]) -> bool:
    """Whether an order with this `data` holds a value an incompatible change would break."""
    for change in compat.incompatible:
        key, _, column = change.path.partition(".")
        value = data.get(key)
        if not column:
            if not is_empty(value) and value is not False:
                return True
        elif isinstance(value, list) and any(
            isinstance(r, Mapping) and not is_empty(r.get(column)) for r in value
        ):
            return True
    return False
