"""Moving a running instance to a newer definition version, with an explicit node mapping.

Why this exists: publishing never changes running orders (they keep their version). When an
admin wants them on the new version anyway, each active node must be mapped to a node of the
new version; `plan` previews what would happen (pure, no changes), `migrate` does it: the open
to-dos of the old nodes are closed (`migrated`) and the mapped new nodes are entered fresh, so
assignees, time limits and stages come from the new version.

Limits (refused with a code, never guessed): instances inside parallel branches, or waiting at a
join, are not migrated (`flow.migrate_parallel_unsupported`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.flows.definition import PEOPLE_TYPES, FlowDefinition
from engine.flows.directory import Directory
from engine.flows.errors import FlowError
from engine.flows.run import Run
from engine.flows.state import FlowState
from engine.flows.step import FlowStep

MIGRATABLE = frozenset({"running"})


@dataclass(frozen=True)
class MoveStep:
    """Where one active node goes: `target` None with a `problem` code when it cannot."""

    source: str
    target: str | None
    problem: str | None = None


def plan(
    old: FlowDefinition, new: FlowDefinition, state: FlowState, mapping: Mapping[str, str]
) -> list[MoveStep]:
    """The moves `migrate` would make; a move with a `problem` blocks the whole instance."""
    if state.status not in MIGRATABLE:
        return [MoveStep(source="", target=None, problem="flow.not_running")]
    if state.arrivals or any(t.branch for t in state.tokens):
        return [
            MoveStep(source=t.node_key, target=None, problem="flow.migrate_parallel_unsupported")
            for t in state.tokens
        ] or [MoveStep("", None, "flow.migrate_parallel_unsupported")]
    moves = []
    for token in state.tokens:
        target = mapping.get(token.node_key, token.node_key)
        node = new.nodes_by_key.get(target)
        if node is None:
            moves.append(MoveStep(token.node_key, None, "flow.migrate_target_unknown"))
        elif node.type not in PEOPLE_TYPES | {"wait", "end", "exclusive", "auto", "notify"}:
            moves.append(MoveStep(token.node_key, None, "flow.migrate_target_invalid"))
        else:
            moves.append(MoveStep(token.node_key, target))
    return moves


def migrate(
    old: FlowDefinition,
    new: FlowDefinition,
    state: FlowState,
    mapping: Mapping[str, str],
    now: datetime,
    *,
    directory: Directory,
    facts: Mapping[str, Any] | None = None,
    actor_id: int | None = None,
) -> FlowStep:
    """The instance on `new`: old active nodes closed, mapped nodes entered. Pure."""
    moves = plan(old, new, state, mapping)
    problems = [m for m in moves if m.problem]
    if problems:
        raise FlowError(problems[0].problem, node_key=problems[0].source)
    run = Run(old, state.model_copy(deep=True), now, directory, dict(facts or {}))
    for token in list(run.state.tokens):
        run.drop_token(token, outcome="migrated")
    run.state.completed = {k: v for k, v in run.state.completed.items() if k in new.nodes_by_key}
    run.defn = new
    run.log(
        "migrated",
        actor_id=actor_id,
        from_version=old.version,
        to_version=new.version,
        moves={m.source: m.target for m in moves},
    )
    for move in moves:
        token = next(t for t in state.tokens if t.node_key == move.source)
        prev = token.prev if token.prev in new.nodes_by_key else None
        run.enter(move.target, (), prev, edge_key=None)
    return FlowStep(state=run.state, effects=tuple(run.effects))
