"""Flows: definitions (nodes + edges as data), graph validation, the pure interpreter, BPMN."""

from engine.flows.definition import FlowDefinition, load_definition
from engine.flows.directory import Directory, StaticDirectory
from engine.flows.errors import FlowDefinitionError, FlowError, FlowIssue
from engine.flows.state import FlowState, check_invariants
from engine.flows.step import FlowStep, step
from engine.flows.validate import ensure_valid, parse_and_validate, validate

__all__ = [
    "Directory",
    "FlowDefinition",
    "FlowDefinitionError",
    "FlowError",
    "FlowIssue",
    "FlowState",
    "FlowStep",
    "StaticDirectory",
    "check_invariants",
    "ensure_valid",
    "load_definition",
    "parse_and_validate",
    "step",
    "validate",
]
