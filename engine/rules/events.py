"""Which rule events an order change is, and which event rules hear them.

Pure: the backend passes the order's values after the change and what changed (the before
values of an update); the event path evaluates only the rules that hear one of these events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.rules.definition import EventTrigger

__all__ = ["Event", "events_of", "heard_event"]

Event = tuple[str, Any]  # (event type, detail): changed field names for field_changed, the stage for stage_*


def events_of(after: Mapping[str, Any], changes: Mapping[str, Any], *, is_new: bool) -> list[Event]:
    """The events of one order change. `after` holds the order's values (`stage`, `data`) after
    it; on an update `changes` holds the before values of what changed. A change of `data`
    names each designed field that differs (`data.weight`), not `data` itself."""
    if is_new:
        return [("order_created", None), ("stage_entered", after.get("stage"))]
    events: list[Event] = []
    changed_fields = set(changes) - {"data"}
    if "data" in changes:
        before = changes.get("data") or {}
        now = after.get("data") or {}
        changed_fields |= {f"data.{k}" for k in set(before) | set(now) if before.get(k) != now.get(k)}
    if changed_fields:
        events.append(("field_changed", changed_fields))
    if "stage" in changes:
        events.append(("stage_left", changes["stage"]))
        events.append(("stage_entered", after.get("stage")))
    if "urge_count" in changes:
        events.append(("customer_urged", None))
    return events


def detail_matches(event: str, detail: Any, trigger: EventTrigger) -> bool:
    """Whether the trigger's field or stage filter lets this event through (empty filter: any)."""
    if event == "field_changed" and trigger.fields:
        return bool(set(trigger.fields) & set(detail))
    if event in ("stage_entered", "stage_left") and trigger.stages:
        return detail in trigger.stages
    return True


def heard_event(trigger: EventTrigger, events: Sequence[Event]) -> str | None:
    """The first of `events` the trigger listens to (the firing's recorded trigger), or None."""
    for event, detail in events:
        if event in trigger.events and detail_matches(event, detail, trigger):
            return event
    return None
