"""The formula dependency graph of a form (networkx).

An edge `a -> b` means "b's value depends on a": b is computed from a, or b is shown only when a
condition over a holds (a hidden field's value is dropped, so visibility feeds values too).
`required_if` is not an edge: it decides an error, never a value. Evaluating fields in
topological order gives every expression its inputs' final values in one pass; a cycle refuses
publishing.
"""

from __future__ import annotations

import weakref
from typing import Any

import networkx as nx

from engine.forms.definition import FieldType, FormDefinition, FormField
from engine.forms.expressions import Scope, check_expression
from engine.forms.issues import FormDefinitionError, Issue

MAX_CYCLES_REPORTED = 10


def form_scope(defn: FormDefinition) -> Scope:
    return Scope("form", {f.key: f for f in defn.data_fields()})


def row_scope(table: FormField) -> Scope:
    return Scope("row", {c.key: c for c in table.columns})


def _value_expressions(f: FormField) -> list[tuple[str, Any]]:
    out = []
    if f.type == FieldType.COMPUTED and f.expression is not None:
        out.append(("expression", f.expression))
    if f.visible_if is not None:
        out.append(("visible_if", f.visible_if))
    return out


def _graph(fields: list[FormField], scope: Scope) -> nx.DiGraph:
    graph = nx.DiGraph()
    for f in fields:
        graph.add_node(f.key)
    for f in fields:
        for prop, expr in _value_expressions(f):
            for ref in check_expression(expr, scope, prop).refs:
                graph.add_edge(ref, f.key, prop=prop)
    return graph


def dependency_graph(defn: FormDefinition) -> nx.DiGraph:
    """Top-level fields; edges from each field an expression reads to the field it decides."""
    return _graph(list(defn.data_fields()), form_scope(defn))


def row_graph(table: FormField) -> nx.DiGraph:
    """Columns of a line-items table; edges for computed columns."""
    return _graph(list(table.columns), row_scope(table))


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Up to MAX_CYCLES_REPORTED cycles, each as its fields in order (a self-reference is [k])."""
    found = []
    for cycle in nx.simple_cycles(graph):
        found.append(cycle)
        if len(found) >= MAX_CYCLES_REPORTED:
            break
    return found


def evaluation_order(graph: nx.DiGraph, keys: list[str]) -> list[str]:
    """Keys in dependency order; ties keep the form's order so results are deterministic."""
    position = {k: i for i, k in enumerate(keys)}
    try:
        return list(nx.lexicographical_topological_sort(graph, key=lambda k: position.get(k, 0)))
    except nx.NetworkXUnfeasible as exc:
        found = cycles(graph)
        raise FormDefinitionError(
            [Issue("fields", "form.formula_cycle", {"fields": c}) for c in found]
        ) from exc


_plans: dict[int, tuple[list[str], dict[str, list[str]]]] = {}


def plan(defn: FormDefinition) -> tuple[list[str], dict[str, list[str]]]:
    """(top-level evaluation order, evaluation order of each line-items table's columns), worked
    out once per parsed definition: definitions are frozen, and validating an order's data should
    not rebuild the graph for every row."""
    cached = _plans.get(id(defn))
    if cached is None:
        keys = [f.key for f in defn.data_fields()]
        rows = {f.key: evaluation_order(row_graph(f), [c.key for c in f.columns])
                for f in defn.data_fields() if f.type == FieldType.LINE_ITEMS}
        cached = (evaluation_order(dependency_graph(defn), keys), rows)
        _plans[id(defn)] = cached
        weakref.finalize(defn, _plans.pop, id(defn), None)  # gone with the definition, before its id is reused
    return cached


_gated: dict[int, frozenset[str]] = {}


def context_gated(defn: FormDefinition) -> frozenset[str]:
    """Keys of the fields whose `visible_if` reads no field, only order facts (`stage`): hidden
    because of where the order is, not because of what it says, so a hidden one keeps its value
    (a carrier typed at shipping survives the order being sent back). Worked out once per definition."""
    cached = _gated.get(id(defn))
    if cached is None:
        scope = form_scope(defn)
        cached = frozenset(f.key for f in defn.data_fields() if f.visible_if is not None
                           and not check_expression(f.visible_if, scope, "visible_if").refs)
        _gated[id(defn)] = cached
        weakref.finalize(defn, _gated.pop, id(defn), None)
    return cached
