"""Refused flow actions and definitions: a machine code plus params, never prose.

The backend maps codes to HTTP statuses and messages (zh-CN / en); the engine stays
language-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FlowIssue:
    """One problem in a definition. `nodes` lists the node keys the designer highlights."""

    path: str
    code: str
    nodes: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "code": self.code, "nodes": list(self.nodes), "params": self.params}


class FlowError(Exception):
    """An event the interpreter refuses (closed to-do, wrong person, flow not running…).

    The state passed to `step` is never changed: callers keep using it.
    """

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code} {params}" if params else code)
        self.code = code
        self.params = params


class FlowDefinitionError(ValueError):
    """A definition that cannot be published: carries every issue."""

    code = "flow.definition_invalid"

    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.path}: {i.code} {list(i.nodes)} {i.params}" for i in issues))
