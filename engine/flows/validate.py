"""Graph checks run at publish time: every issue, each naming the nodes the designer highlights.

Uses networkx: reachability from the start, an end reachable from every node (a cycle without
an exit is reported as such), and joins matching splits through post-dominators: the nearest
node every path from a parallel split must pass on its way to an end has to be a parallel join,
and every branch into that join has to start at that split.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx
from pydantic import ValidationError

from engine.facts.catalogue import default_catalogue
from engine.flows.auto import problems as auto_problems
from engine.flows.definition import (
    PEOPLE_TYPES,
    FieldUserSpec,
    FlowDefinition,
    load_definition,
)
from engine.flows.errors import FlowDefinitionError, FlowIssue
from engine.flows.logic import condition_problems, variables
from engine.nesting import MAX_NESTING, nested_deeper_than

CORE_FIELDS = frozenset(
    {
        "id",
        "number",
        "customer_id",
        "owner_id",
        "amount",
        "currency",
        "stage",
        "status",
        "stage_entered_at",
        "planned_delivery",
        "payment_due",
        "source",
        "external_id",
        "tags",
        "risk_flags",
        "urge_count",
        "last_customer_contact_at",
        "created_at",
        "updated_at",
        "closed_at",
        # stored scores (engine/facts/catalogue.py STORED_SCORES), read by auto-approval conditions
        "customer_on_time_rate",
        "supplier_on_time_rate",
        "carrier_on_time_rate",
        "priority_score",
        "churn_signals",
    }
)
"""Core columns of `sales_order` (docs/team-contract.md), usable by name in flows."""

SINGLE_EXIT = frozenset({"start", "approval", "task", "notify", "wait", "auto", "parallel_join"})
_SINK = "\x00end"


def validate(
    defn: FlowDefinition, *, form_fields: Iterable[str] | None = None, directory: Any = None
) -> list[FlowIssue]:
    """Every problem of the definition (empty list: it can be published).

    `form_fields`: keys of the order form's designed fields (without `data.`); when given,
    references to `data.<key>` are checked against it. `directory` (engine.flows.Directory): when
    given, a people node whose approvers are all fixed (users, roles) and resolve to nobody active,
    with no fallback (`skip`, or `admin` with an active admin), is `flow.approver_unresolvable`.
    """
    known_fields = None if form_fields is None else frozenset(form_fields)
    issues: list[FlowIssue] = []
    add = issues.append

    keys = [n.key for n in defn.nodes]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        add(FlowIssue("nodes", "flow.duplicate_node", (key,), {"node": key}))
    edge_keys = [e.key for e in defn.edges]
    for key in sorted({k for k in edge_keys if edge_keys.count(k) > 1}):
        add(FlowIssue("edges", "flow.duplicate_edge", (), {"edge": key}))
    nodes = defn.nodes_by_key
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(nodes)
    for i, edge in enumerate(defn.edges):
        missing = [k for k in (edge.source, edge.target) if k not in nodes]
        if missing:
            add(
                FlowIssue(f"edges[{i}]", "flow.edge_unknown_node", (), {"edge": edge.key, "missing": missing})
            )
            continue
        graph.add_edge(edge.source, edge.target, key=edge.key)

    starts = [n.key for n in defn.nodes if n.type == "start"]
    ends = [n.key for n in defn.nodes if n.type == "end"]
    if not starts:
        add(FlowIssue("nodes", "flow.no_start"))
    elif len(starts) > 1:
        add(FlowIssue("nodes", "flow.multiple_starts", tuple(starts)))
    if not ends:
        add(FlowIssue("nodes", "flow.no_end"))

    for i, node in enumerate(defn.nodes):
        path = f"nodes[{i}]"
        out_deg = graph.out_degree(node.key)
        in_deg = graph.in_degree(node.key)
        one = (node.key,)
        if node.type == "start" and in_deg:
            add(FlowIssue(path, "flow.start_has_incoming", one))
        if node.type == "end" and out_deg:
            add(FlowIssue(path, "flow.end_has_outgoing", one))
        if node.type in SINGLE_EXIT:
            if out_deg == 0:
                add(FlowIssue(path, "flow.no_outgoing", one))
            elif out_deg > 1:
                add(FlowIssue(path, "flow.too_many_outgoing", one, {"count": out_deg}))
        if node.type == "exclusive" and out_deg == 0:
            add(FlowIssue(path, "flow.no_outgoing", one))
        if node.type == "parallel_split" and out_deg < 2:
            add(FlowIssue(path, "flow.split_needs_branches", one, {"count": out_deg}))
        if node.type == "parallel_join" and in_deg < 2:
            add(FlowIssue(path, "flow.join_needs_branches", one, {"count": in_deg}))
        issues.extend(_node_settings(path, node, known_fields))

    if directory is not None:
        issues.extend(_unresolvable(defn, directory))
    issues.extend(_branches(defn, known_fields))
    if len(starts) == 1:
        issues.extend(_graph_shape(defn, graph, starts[0], ends))
    return issues


def _catalogue_columns() -> frozenset[str]:
    """Order columns the fact catalogue knows (a flow's facts are the order's columns)."""
    return frozenset(n for n, spec in default_catalogue().fields.items() if spec.source == "core")


def _field_problem(name: str, known: frozenset[str] | None) -> bool:
    """True when `name` surely does not exist (core column or designed field)."""
    if name.startswith("data."):
        return known is not None and name[5:].split(".", 1)[0] not in known
    return name not in CORE_FIELDS and (known is None or name not in known)


def _external_party_issues(path: str, external: Any, known: frozenset[str] | None,
                           one: tuple[str, ...]) -> list[FlowIssue]:
    """A supplier or carrier step names its company once: a fixed one (`party_id`) or the field of
    the order that names it (`party_field`, a designed field: no core column holds a company's
    name, and a customer step already goes to the order's customer)."""
    field = external.party_field
    if field is not None and (external.kind == "customer" or not field.startswith("data.") or len(field) < 6
                              or _field_problem(field, known)):
        return [FlowIssue(path, "flow.external_party_field_invalid", one, {"field": field})]
    if external.kind == "customer":
        return []
    if external.party_id is None and not field:
        return [FlowIssue(path, "flow.external_party_missing", one)]
    if external.party_id is not None and field:
        return [FlowIssue(path, "flow.external_party_both", one)]
    return []


def _node_settings(path: str, node: Any, known: frozenset[str] | None) -> list[FlowIssue]:
    issues: list[FlowIssue] = []
    one = (node.key,)
    if node.type in PEOPLE_TYPES:
        if not node.assignees:
            issues.append(FlowIssue(f"{path}.assignees", "flow.approver_missing", one))
        for j, spec in enumerate(node.assignees):
            if getattr(spec, "kind", None) == "users" and not spec.user_ids:
                issues.append(FlowIssue(f"{path}.assignees[{j}]", "flow.approver_missing", one))
            if isinstance(spec, FieldUserSpec) and _field_problem(spec.field, known):
                issues.append(
                    FlowIssue(
                        f"{path}.assignees[{j}]", "flow.approver_field_unknown", one, {"field": spec.field}
                    )
                )
        for name in (*node.required_fields, *node.field_permissions):
            if _field_problem(name, known):
                issues.append(FlowIssue(path, "flow.field_unknown", one, {"field": name}))
        external = getattr(node, "external", None)
        if external is not None:
            issues.extend(_external_party_issues(f"{path}.external", external, known, one))
            if external.done_field and node.field_permissions.get(external.done_field) != "editable":
                issues.append(FlowIssue(f"{path}.external", "flow.external_done_field_not_editable", one,
                                        {"field": external.done_field}))
        limit = node.time_limit
        if limit and limit.on_timeout == "reassign" and limit.reassign_to is None:
            issues.append(FlowIssue(f"{path}.time_limit", "flow.reassign_target_missing", one))
        if (
            limit
            and isinstance(limit.reassign_to, FieldUserSpec)
            and _field_problem(limit.reassign_to.field, known)
        ):
            issues.append(
                FlowIssue(
                    f"{path}.time_limit",
                    "flow.approver_field_unknown",
                    one,
                    {"field": limit.reassign_to.field},
                )
            )
    auto = getattr(node, "auto_approve", None)
    if auto is not None and auto.enabled:
        found = auto_problems(auto.condition)
        if found:
            issues.append(FlowIssue(f"{path}.auto_approve", "flow.auto_condition_invalid", one, {"problems": found}))
        else:
            columns = _catalogue_columns()  # stored scores and predictions other branches add are columns
            for name in sorted(variables(auto.condition)):
                if name not in columns and _field_problem(name, known):
                    issues.append(FlowIssue(f"{path}.auto_approve", "flow.auto_condition_field_unknown", one,
                                            {"field": name}))
    if node.type == "notify":
        if not node.recipients:
            issues.append(FlowIssue(f"{path}.recipients", "flow.recipient_missing", one))
        for spec in node.recipients:
            if isinstance(spec, FieldUserSpec) and _field_problem(spec.field, known):
                issues.append(
                    FlowIssue(f"{path}.recipients", "flow.approver_field_unknown", one, {"field": spec.field})
                )
    if node.type == "wait":
        if not node.until_field and not node.hours:
            issues.append(FlowIssue(path, "flow.wait_needs_until", one))
        if node.until_field and _field_problem(node.until_field, known):
            issues.append(FlowIssue(path, "flow.field_unknown", one, {"field": node.until_field}))
    if node.type == "auto":
        if not node.set_fields and not node.webhook_url:
            issues.append(FlowIssue(path, "flow.auto_step_empty", one))
        for name in node.set_fields:
            if _field_problem(name, known):
                issues.append(FlowIssue(path, "flow.field_unknown", one, {"field": name}))
        if node.webhook_url and not node.webhook_url.startswith(("http://", "https://")):
            issues.append(FlowIssue(path, "flow.webhook_url_invalid", one, {"url": node.webhook_url}))
    return issues


def _unresolvable(defn: FlowDefinition, directory: Any) -> list[FlowIssue]:
    """People nodes that can never find anyone (only fixed approvers, all missing or inactive)."""
    issues: list[FlowIssue] = []
    admins = [u for u in directory.admin_ids() if directory.is_active(u)]
    for i, node in enumerate(defn.nodes):
        if node.type not in PEOPLE_TYPES or not node.assignees or node.on_no_approver == "skip":
            continue
        if node.on_no_approver == "admin" and admins:
            continue
        if not all(getattr(spec, "kind", None) in ("users", "role") for spec in node.assignees):
            continue  # depends on the order or the initiator: only known at run time
        found = []
        for spec in node.assignees:
            ids = spec.user_ids if spec.kind == "users" else directory.users_with_role(spec.role)
            found += [u for u in ids if directory.is_active(u)]
        if not found:
            issues.append(FlowIssue(f"nodes[{i}].assignees", "flow.approver_unresolvable", (node.key,)))
    return issues


def _branches(defn: FlowDefinition, known: frozenset[str] | None) -> list[FlowIssue]:
    issues: list[FlowIssue] = []
    nodes = defn.nodes_by_key
    for i, edge in enumerate(defn.edges):
        source = nodes.get(edge.source)
        if source is None:
            continue
        path = f"edges[{i}]"
        if source.type != "exclusive":
            if edge.condition is not None or edge.is_default:
                issues.append(
                    FlowIssue(path, "flow.condition_outside_branch", (edge.source,), {"edge": edge.key})
                )
            continue
        if edge.is_default:
            continue
        if edge.condition is None:
            issues.append(FlowIssue(path, "flow.condition_missing", (edge.source,), {"edge": edge.key}))
            continue
        problems = condition_problems(edge.condition)
        if problems:
            issues.append(
                FlowIssue(
                    path, "flow.condition_invalid", (edge.source,), {"edge": edge.key, "problems": problems}
                )
            )
            continue
        for name in sorted(variables(edge.condition)):
            if name.startswith("data.") and _field_problem(name, known):
                issues.append(
                    FlowIssue(
                        path,
                        "flow.condition_field_unknown",
                        (edge.source,),
                        {"edge": edge.key, "field": name},
                    )
                )
    for node in defn.nodes:
        if node.type != "exclusive":
            continue
        defaults = [e.key for e in defn.outgoing(node.key) if e.is_default]
        if not defaults:
            issues.append(FlowIssue("edges", "flow.branch_needs_default", (node.key,)))
        elif len(defaults) > 1:
            issues.append(
                FlowIssue("edges", "flow.branch_multiple_defaults", (node.key,), {"edges": defaults})
            )
    return issues


def _graph_shape(
    defn: FlowDefinition, graph: nx.MultiDiGraph, start: str, ends: list[str]
) -> list[FlowIssue]:
    issues: list[FlowIssue] = []
    reachable = nx.descendants(graph, start) | {start}
    for node in defn.nodes:
        if node.key not in reachable:
            issues.append(FlowIssue("nodes", "flow.unreachable_node", (node.key,)))
    can_end: set[str] = set()
    for end in ends:
        can_end |= nx.ancestors(graph, end) | {end}
    stuck = [n.key for n in defn.nodes if n.key not in can_end]
    reported: set[str] = set()
    stuck_graph = graph.subgraph(stuck)
    for component in nx.strongly_connected_components(stuck_graph):
        members = sorted(component)
        is_cycle = len(members) > 1 or stuck_graph.has_edge(members[0], members[0])
        if is_cycle:
            # a loop of nodes with no way out to an end: name the loop once
            issues.append(FlowIssue("edges", "flow.cycle_without_exit", tuple(members)))
            reported |= component
    for key in stuck:
        if key not in reported and defn.node(key).type != "end":
            issues.append(FlowIssue("nodes", "flow.end_unreachable", (key,)))
    if ends and not issues:
        issues.extend(_joins(defn, graph, start, ends))
    return issues


def _joins(defn: FlowDefinition, graph: nx.MultiDiGraph, start: str, ends: list[str]) -> list[FlowIssue]:
    """Each parallel split's immediate post-dominator must be a join fed only from that split."""
    issues: list[FlowIssue] = []
    simple = nx.DiGraph(graph)
    reverse = simple.reverse(copy=True)
    reverse.add_edges_from((_SINK, end) for end in ends)
    post_dom = nx.immediate_dominators(reverse, _SINK)
    dom = nx.immediate_dominators(simple, start)

    def dominates(a: str, b: str) -> bool:
        while True:
            if b == a:
                return True
            parent = dom.get(b)
            if parent is None or parent == b:
                return False
            b = parent

    matched: dict[str, list[str]] = {}
    for node in defn.nodes:
        if node.type != "parallel_split":
            continue
        join = post_dom.get(node.key)
        if join is None or join == _SINK or defn.node(join).type != "parallel_join":
            issues.append(FlowIssue("nodes", "flow.split_without_join", (node.key,)))
            continue
        matched.setdefault(join, []).append(node.key)
    for node in defn.nodes:
        if node.type != "parallel_join":
            continue
        splits = matched.get(node.key, [])
        if not splits:
            issues.append(FlowIssue("nodes", "flow.join_without_split", (node.key,)))
        elif len(splits) > 1:
            issues.append(FlowIssue("nodes", "flow.join_mismatch", (node.key, *splits)))
        else:
            outsiders = sorted(
                e.source for e in defn.incoming(node.key) if not dominates(splits[0], e.source)
            )
            if outsiders:
                issues.append(FlowIssue("nodes", "flow.join_mismatch", (node.key, splits[0], *outsiders)))
    return issues


def ensure_valid(
    defn: FlowDefinition, *, form_fields: Iterable[str] | None = None, directory: Any = None
) -> FlowDefinition:
    """`defn` when it can be published, else `FlowDefinitionError` with every issue."""
    issues = validate(defn, form_fields=form_fields, directory=directory)
    if issues:
        raise FlowDefinitionError(issues)
    return defn


def parse_and_validate(
    raw: dict[str, Any], *, form_fields: Iterable[str] | None = None, directory: Any = None
) -> tuple[FlowDefinition | None, list[FlowIssue]]:
    """For the designer and import: shape errors become issues too (code `flow.schema_invalid`);
    a definition nested deeper than MAX_NESTING is refused before it is parsed or stored
    (`flow.too_deep`: hundreds of levels made storing it fail with a 500)."""
    if nested_deeper_than(raw):
        return None, [FlowIssue("", "flow.too_deep", (), {"max": MAX_NESTING})]
    try:
        defn = load_definition(raw)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = err.get("loc", ())
            nodes: tuple[str, ...] = ()
            if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
                try:
                    key = raw["nodes"][loc[1]].get("key")
                    nodes = (key,) if key else ()
                except (KeyError, IndexError, TypeError, AttributeError):
                    nodes = ()
            path = ".".join(str(p) for p in loc)
            issues.append(
                FlowIssue(
                    path, "flow.schema_invalid", nodes, {"detail": err.get("type", ""), "msg": err["msg"]}
                )
            )
        return None, issues
    except ValueError as exc:
        return None, [FlowIssue("", "flow.schema_invalid", (), {"detail": str(exc)})]
    return defn, validate(defn, form_fields=form_fields, directory=directory)
