"""The flow interpreter: step(definition, state, event, now, *, directory, facts) -> FlowStep.

Pure: the state passed in is never changed (the run works on a deep copy), time is `now`, people
come from `directory`, order data from `facts`. A refused event raises `FlowError` (closed,
stale or someone else's to-do, flow not running) and the caller keeps the old state.

Tokens mark active nodes. A parallel split gives each outgoing branch a token whose `branch`
stack gains `"<split>#<visit>:<edge>"`; a join fires once every branch of that split instance has
arrived, and pops the stack. Reaching an end node finishes the whole instance (open to-dos of
other branches are cancelled), so a finished order never keeps open to-dos.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.flows.actions import HANDLERS
from engine.flows.definition import FlowDefinition
from engine.flows.directory import Directory
from engine.flows.errors import FlowError
from engine.flows.run import Run
from engine.flows.state import FINISHED, FlowState


@dataclass(frozen=True)
class FlowStep:
    state: FlowState
    effects: tuple[Any, ...]


def step(
    defn: FlowDefinition,
    state: FlowState,
    event: Any,
    now: datetime,
    *,
    directory: Directory,
    facts: Mapping[str, Any] | None = None,
) -> FlowStep:
    """Move one flow instance forward by one event."""
    if now.tzinfo is None:
        raise FlowError("flow.naive_now")
    run = Run(defn, state.model_copy(deep=True), now, directory, dict(facts or {}))
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise FlowError("flow.unknown_event", type=type(event).__name__)
    handler(run, event)
    return FlowStep(state=run.state, effects=tuple(run.effects))


__all__ = ["FINISHED", "FlowStep", "step"]
