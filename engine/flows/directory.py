"""Who is who, as a small pure object: the backend fills it from the org chart.

Approver resolution (`resolve`) reads only this directory, the order's facts and the instance
state, so the interpreter stays pure and a simulation can run on a hand-written directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.flows.definition import (
    FieldUserSpec,
    InitiatorChoiceSpec,
    InitiatorSpec,
    ManagerChainSpec,
    OwnerManagerSpec,
    RoleSpec,
    UsersSpec,
)
from engine.flows.logic import fact


class Directory(Protocol):
    def users_with_role(self, role: str) -> Sequence[int]: ...

    def manager_of(self, user_id: int) -> int | None:
        """The head of the user's department; for a head, the head of the parent department."""
        ...

    def admin_ids(self) -> Sequence[int]: ...

    def is_active(self, user_id: int) -> bool: ...


@dataclass(frozen=True)
class StaticDirectory:
    """A directory from plain mappings (tests, simulation, and the backend's loaded org chart)."""

    roles: Mapping[str, Sequence[int]] = field(default_factory=dict)
    managers: Mapping[int, int] = field(default_factory=dict)
    inactive: frozenset[int] = frozenset()

    def users_with_role(self, role: str) -> Sequence[int]:
        return tuple(self.roles.get(role, ()))

    def manager_of(self, user_id: int) -> int | None:
        return self.managers.get(user_id)

    def admin_ids(self) -> Sequence[int]:
        return tuple(self.roles.get("admin", ()))

    def is_active(self, user_id: int) -> bool:
        return user_id not in self.inactive


def manager_chain(directory: Directory, user_id: int, levels: int) -> list[int]:
    """The user's manager, that manager's manager, … up to `levels` people (stops at the top)."""
    chain: list[int] = []
    current = user_id
    for _ in range(levels):
        manager = directory.manager_of(current)
        if manager is None or manager == current or manager in chain:
            break
        chain.append(manager)
        current = manager
    return chain


def _as_user_ids(value: Any) -> list[int]:
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, str) and value.strip().isdigit():
        return [int(value)]
    if isinstance(value, (list, tuple)):
        return [uid for item in value for uid in _as_user_ids(item)]
    if isinstance(value, Mapping) and "id" in value:
        return _as_user_ids(value["id"])
    return []


def resolve(
    specs: Sequence[Any],
    *,
    node_key: str,
    directory: Directory,
    facts: Mapping[str, Any],
    initiator_id: int | None,
    chosen: Mapping[str, Sequence[int]],
) -> list[int]:
    """The people the specs name, in order, without duplicates or inactive users."""
    found: list[int] = []
    for spec in specs:
        if isinstance(spec, UsersSpec):
            ids = list(spec.user_ids)
        elif isinstance(spec, RoleSpec):
            ids = list(directory.users_with_role(spec.role))
        elif isinstance(spec, ManagerChainSpec):
            ids = manager_chain(directory, initiator_id, spec.levels) if initiator_id is not None else []
        elif isinstance(spec, OwnerManagerSpec):
            owners = _as_user_ids(fact(facts, "owner_id"))
            ids = manager_chain(directory, owners[0], 1) if owners else []
        elif isinstance(spec, FieldUserSpec):
            ids = _as_user_ids(fact(facts, spec.field))
        elif isinstance(spec, InitiatorChoiceSpec):
            ids = list(chosen.get(node_key, ()))
        elif isinstance(spec, InitiatorSpec):
            ids = [initiator_id] if initiator_id is not None else []
        else:  # pragma: no cover - the union is closed
            raise TypeError(spec)
        for uid in ids:
            if uid not in found and directory.is_active(uid):
                found.append(uid)
    return found
