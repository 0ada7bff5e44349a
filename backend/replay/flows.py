"""What if this flow draft had been live? The orders that ran flow `key` in the last N weeks, their
recorded flow history (`flow_instance.state.history`: visits, decisions, resubmissions) and their
field changes (`order_event`), driven through the published version and through the draft on a
virtual clock (engine/replay/flows.py), side by side. Nothing is written: no order, event, to-do,
timer or outbox row.

Reads are bounded: instances of the flow started in the window, newest first, at most `MAX_ORDERS`
(every run of the flow: an order that ran it twice is replayed twice); their orders and events in
one query each per batch of `BATCH`.
The replay stops after `TIME_LIMIT_SECONDS` and says so (`truncated`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.flows.directory import load_directory
from backend.flows.models import FlowInstance
from backend.flows.service import FLOWS, form_field_keys, invalid, on_installation_calendar
from backend.orders.models import OrderEvent
from backend.replay.service import DEFAULT_WEEKS, Progress, Window, window
from backend.rules.context import ORDER
from engine.flows.definition import FlowDefinition, load_definition
from engine.flows.validate import parse_and_validate
from engine.replay.flow_diff import FlowDiff, compare_flows
from engine.replay.flows import FlowHistory, history_of, replay, waits_of
from engine.replay.timeline import LoggedEvent, rebuild

MAX_ORDERS = 20_000
BATCH = 1_000
MAX_NODES = 300  # a draft larger than this is refused before replaying
MAX_DEPTH = 64  # nesting of the draft's JSON (conditions): deeper is refused before validating


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests lists / dicts deeper than `limit` (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
TIME_LIMIT_SECONDS = 25.0
EXAMPLES = 20


def _definitions(session: Session, key: str, definition: dict[str, Any] | None) -> tuple[FlowDefinition,
                                                                                          FlowDefinition, int]:
    """(published, changed, published version). A broken draft answers 422 with its problems."""
    published = FLOWS.with_status(session, key, "published")
    draft = FLOWS.with_status(session, key, "draft")
    if published is None and draft is None:
        raise GendanError("flow.not_found", {"key": key}, status=404)
    if published is None:
        raise GendanError("whatif.flow_not_published", {"key": key})
    if definition is None:
        if draft is None:
            raise GendanError("whatif.flow_nothing_to_compare", {"key": key})
        definition = draft.definition
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    if isinstance(nodes, list) and len(nodes) > MAX_NODES:
        raise GendanError("whatif.flow_too_large", {"max": MAX_NODES})
    if _too_deep(definition):
        raise GendanError("whatif.flow_too_deep", {"max": MAX_DEPTH})
    changed, issues = parse_and_validate({**definition, "key": key, "version": (draft.version if draft else
                                                                                 published.version + 1)},
                                         form_fields=form_field_keys(session))
    if changed is None or issues:
        raise invalid(issues)
    current = load_definition(published.definition)
    return (on_installation_calendar(session, current), on_installation_calendar(session, changed),
            published.version)


def instances(session: Session, key: str, w: Window, limit: int) -> tuple[list[tuple[int, int]], bool]:
    """(instance id, order id) of the flow's instances started in the window, newest first: every run
    of the flow, an order that ran it twice (restarted, resubmitted as a new instance) twice."""
    rows = session.execute(
        select(FlowInstance.id, FlowInstance.order_id)
        .where(FlowInstance.flow_key == key, FlowInstance.created_at >= w.start, FlowInstance.created_at < w.end)
        .order_by(FlowInstance.id.desc()).limit(limit + 1)).all()
    return [(i, o) for i, o in rows[:limit]], len(rows) > limit


def histories(session: Session, pairs: list[tuple[int, int]]) -> Iterator[FlowHistory]:
    """Each order's flow record and its field values over time, read in batches."""
    pairs = sorted(pairs, key=lambda p: p[1])
    for i in range(0, len(pairs), BATCH):
        batch = pairs[i:i + BATCH]
        order_ids = [o for _, o in batch]
        states = dict(session.execute(select(FlowInstance.id, FlowInstance.state)
                                      .where(FlowInstance.id.in_([i for i, _ in batch]))).all())
        orders = {row["id"]: row for row in session.execute(
            select(ORDER).where(ORDER.c.id.in_(order_ids))).mappings().all()}
        events: dict[int, list[LoggedEvent]] = {}
        for order_id, kind, at, before, after in session.execute(
                select(OrderEvent.order_id, OrderEvent.type, OrderEvent.at, OrderEvent.before, OrderEvent.after)
                .where(OrderEvent.order_id.in_(order_ids), OrderEvent.order_id.between(order_ids[0], order_ids[-1]))
                .order_by(OrderEvent.order_id, OrderEvent.at, OrderEvent.id)):
            if kind.startswith("flow."):
                continue  # the flow's own record is read from the instance
            events.setdefault(order_id, []).append(LoggedEvent(
                at, kind, before if isinstance(before, dict) else None, after if isinstance(after, dict) else None))
        for instance_id, order_id in batch:
            row, state = orders.get(order_id), states.get(instance_id)
            if row is None or not isinstance(state, dict):
                continue
            current = {c.key: row[c] for c in ORDER.columns}
            history = state.get("history") if isinstance(state.get("history"), list) else []
            chosen = state.get("chosen_approvers") if isinstance(state.get("chosen_approvers"), dict) else {}
            found = history_of(order_id, current["number"], history, steps=rebuild(current, events.get(order_id, [])),
                               initiator_id=state.get("initiator_id"), chosen_approvers=chosen,
                               run_id=instance_id)
            if found is not None:
                yield found


def flow_what_if(session: Session, *, actor: Actor, key: str, weeks: Any = DEFAULT_WEEKS, now: datetime,
                 definition: dict[str, Any] | None = None, max_orders: int = MAX_ORDERS,
                 time_limit: float = TIME_LIMIT_SECONDS, clock: Callable[[], float] = time.monotonic,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Replay flow `key`'s published version and its draft (or `definition`) over the last `weeks`.
    `progress(done, total)` (the worker's run) is told the orders replayed; True stops the replay."""
    require_designer(actor)
    w = window(weeks, now)
    current, changed, published_version = _definitions(session, key, definition)
    started = clock()
    pairs, capped = instances(session, key, w, max_orders)
    recorded = list(histories(session, pairs))
    loaded = clock() - started
    directory = load_directory(session)
    waits = waits_of(recorded, [current, changed])

    total, calls = 2 * len(recorded), [0]
    if progress is not None:
        progress(0, total)  # the total, before the first order; a stop is seen at the first check

    def too_long() -> bool:  # the engine asks every 50 orders
        done = min(calls[0] * 50, total)
        calls[0] += 1
        if progress is not None and progress(done, total):
            return True
        return clock() - started > time_limit

    before = replay(current, recorded, directory=directory, waits=waits, end=w.end, deadline=too_long)
    calls[0] = (len(recorded) + 49) // 50
    after = replay(changed, recorded, directory=directory, waits=waits, end=w.end, deadline=too_long)
    diff = compare_flows(before, after)
    numbers = {h.key: (h.order_id, h.number) for h in recorded}
    return {
        "key": key, "weeks": weeks, "start": w.start, "end": w.end,
        "published_version": published_version, "draft_version": changed.version,
        "orders": len({h.order_id for h in recorded}), "runs": len(recorded), "orders_capped": capped,
        "replayed_orders": diff.orders, "truncated": before.truncated or after.truncated,
        "engine_steps": before.events + after.events,
        "load_seconds": round(loaded, 2), "seconds": round(clock() - started, 2),
        **_read(diff, numbers, current, changed),
    }


def _name(defn: FlowDefinition, other: FlowDefinition, key: str) -> dict[str, str]:
    node = defn.nodes_by_key.get(key) or other.nodes_by_key.get(key)
    names = {k: v for k, v in (node.name.items() if node is not None else ()) if v}
    return names or {"en": key}


def _read(diff: FlowDiff, numbers: dict[int, tuple[int, str]], current: FlowDefinition,
          changed: FlowDefinition) -> dict[str, Any]:
    """The diff for the page; its keys are runs (instances), the examples name their orders, each once."""
    def examples(runs) -> list[dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for run in runs:
            order_id, number = numbers.get(run, (run, str(run)))
            out.setdefault(order_id, {"id": order_id, "number": number})
            if len(out) == EXAMPLES:
                break
        return list(out.values())

    def hours(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds / 3600, 1)

    return {
        "changed_paths_count": len(diff.changed_paths),
        "changed_paths": examples(diff.changed_paths),
        "steps": [{"node_key": s.node_key, "name": _name(changed, current, s.node_key),
                   "now_reached_count": len(s.now_reached), "now_reached": examples(s.now_reached),
                   "now_skipped_count": len(s.now_skipped), "now_skipped": examples(s.now_skipped)}
                  for s in diff.steps],
        "todos": _todos(diff.todos_before, diff.todos_after),
        "durations": [{"node_key": d.node_key, "name": _name(changed, current, d.node_key),
                       "count_before": d.count_before, "count_after": d.count_after,
                       "median_before_h": hours(d.median_before), "p90_before_h": hours(d.p90_before),
                       "median_after_h": hours(d.median_after), "p90_after_h": hours(d.p90_after),
                       "estimated_after": d.estimated_after, "estimated_before": d.estimated_before}
                      for d in diff.durations],
        "total": {"median_before_h": hours(diff.total_before[0]), "p90_before_h": hours(diff.total_before[1]),
                  "median_after_h": hours(diff.total_after[0]), "p90_after_h": hours(diff.total_after[1])},
        "estimates": [{"node_key": k, "name": _name(changed, current, k), "basis": basis, "samples": samples,
                       "hours": hours(seconds), "orders": orders}
                      for k, (basis, samples, seconds, orders) in sorted(diff.estimated.items())],
        "outcomes": [{"status": s, "before": diff.outcomes_before.get(s, 0), "after": diff.outcomes_after.get(s, 0)}
                     for s in sorted(set(diff.outcomes_before) | set(diff.outcomes_after))],
        "stuck_count": len(diff.stuck_after), "stuck_before_count": len(diff.stuck_before),
        "stuck": [{"id": numbers.get(o, (o, ""))[0], "number": numbers.get(o, (o, str(o)))[1], "node_key": node,
                   "name": _name(changed, current, node) if node != "-" else {"en": "-"}, "reason": reason}
                  for o, node, reason in diff.stuck_after[:EXAMPLES]],
    }


def _todos(before: dict[str, int], after: dict[str, int]) -> list[dict[str, Any]]:
    """To-dos per kind of assignee (`role:finance`, `manager_chain`, `initiator`, …), before / after."""
    return [{"assignee": k, "before": before.get(k, 0), "after": after.get(k, 0)}
            for k in sorted(set(before) | set(after))]
