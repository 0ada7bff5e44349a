"""Helpers for flow engine tests: a small org chart and a runner that checks every step."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.flows import (
    FlowDefinition,
    FlowError,
    FlowState,
    StaticDirectory,
    check_invariants,
    load_definition,
    step,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "flows"

# Org chart: 1 (sales) -> 10 (sales manager) -> 20 (director) ; 2 (sales) -> 11 (manager, no boss)
DIRECTORY = StaticDirectory(
    roles={
        "sales": (1, 2),
        "approver": (20, 21),
        "warehouse": (30, 31),
        "finance": (40,),
        "viewer": (50, 51),
        "admin": (99,),
    },
    managers={1: 10, 2: 11, 10: 20, 30: 32, 31: 32},
    inactive=frozenset({51}),
)

# Monday 2026-11-23 10:00 Shanghai
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def load(name: str) -> FlowDefinition:
    return load_definition(json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")))


def one_node_flow(node: dict[str, Any], *, key: str = "one_node") -> FlowDefinition:
    """start -> <node> -> end."""
    return load_definition(
        {
            "key": key,
            "nodes": [{"type": "start", "key": "start"}, {"key": "n", **node}, {"type": "end", "key": "end"}],
            "edges": [
                {"key": "e1", "source": "start", "target": "n"},
                {"key": "e2", "source": "n", "target": "end"},
            ],
        }
    )


class Runner:
    """Steps one instance; after every step the state round-trips through JSON and is checked."""

    def __init__(
        self, defn: FlowDefinition, *, facts: dict[str, Any] | None = None, directory=DIRECTORY, now=T0
    ):
        self.defn = defn
        self.facts = dict(facts or {})
        self.directory = directory
        self.now = now
        self.state = FlowState()
        self.effects: list[Any] = []
        self.last: tuple[Any, ...] = ()

    def do(self, event) -> tuple[Any, ...]:
        result = step(self.defn, self.state, event, self.now, directory=self.directory, facts=self.facts)
        raw = json.loads(json.dumps(result.state.to_json()))
        restored = FlowState.from_json(raw)
        assert restored == result.state
        assert restored.to_json() == raw
        assert check_invariants(self.defn, restored) == []
        self.state = restored
        self.last = result.effects
        self.effects.extend(result.effects)
        return result.effects

    def refuse(self, event, code: str) -> FlowError:
        before = self.state.to_json()
        with pytest.raises(FlowError) as err:
            step(self.defn, self.state, event, self.now, directory=self.directory, facts=self.facts)
        assert err.value.code == code, err.value
        assert self.state.to_json() == before
        return err.value

    def pending(self, node_key: str | None = None) -> list:
        return [t for t in self.state.pending_tasks() if node_key in (None, t.node_key)]

    def todo(self, node_key: str, assignee: int | None = None):
        found = [t for t in self.pending(node_key) if assignee in (None, t.assignee_id)]
        assert found, f"no pending to-do at {node_key} for {assignee}: {self.state.pending_tasks()}"
        return found[0]

    def last_of(self, cls) -> list:
        return [e for e in self.last if isinstance(e, cls)]

    def all_of(self, cls) -> list:
        return [e for e in self.effects if isinstance(e, cls)]
