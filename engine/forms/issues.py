"""Problems found in a definition or in order data: a machine code plus params, never prose.

The message shown to a person comes from `engine.forms.messages.render(code, params, locale)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem. `path` points into the definition (`fields[2].options`) or into order data
    (`items[2].qty`); `params` fill the message template and name the field (`field`)."""

    path: str
    code: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "code": self.code, "params": self.params}


class FormDefinitionError(ValueError):
    """A definition that cannot be parsed, imported or published; carries every issue."""

    code = "form.definition_invalid"

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("; ".join(f"{i.path}: {i.code} {i.params}" for i in issues))
