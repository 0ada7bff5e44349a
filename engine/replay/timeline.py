"""An order's past states, rebuilt from its event log (order_event rows).

The event log records, per change, the values before and after of the columns that changed
(`created` holds the order's tracked values at creation; an effect that sets designed fields names
each `data.<key>`). Rebuilding works from what the order is now:

1. undo every event's `before` values, newest first: the values before the first event;
2. a `created` event's `after` is the order at creation (it wins where it speaks);
3. replay the events oldest first, each a `Step`: the values after it and the rule events it is
   (`engine.rules.events.events_of`, plus `customer_urged` / `inbound_message` for the tracking
   page's events).

Columns set once at their own moment (`shipped_at`, `signed_at`, `closed_at`) read as their current
value from that moment on and as empty before it; `last_customer_contact_at` moves with the
customer's messages and urges; `stage_entered_at` is the moment of the last stage change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.facts.catalogue import as_utc
from engine.rules.events import Event, events_of

__all__ = ["LoggedEvent", "Step", "rebuild"]

SET_ONCE = ("shipped_at", "signed_at", "closed_at")
CONTACT_EVENTS = {"urged", "customer_message"}
NUMBER_COLUMNS = ("amount", "customer_id", "owner_id", "urge_count")
IGNORED_KEYS = frozenset({"id", "number", "created_at", "updated_at"})  # never replayed from an event


@dataclass(frozen=True)
class LoggedEvent:
    at: datetime
    type: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    """The order's values from `at` until the next step, and the rule events that led here."""

    at: datetime
    values: Mapping[str, Any]
    events: tuple[Event, ...]


def _set(values: dict[str, Any], key: str, value: Any) -> None:
    if key in IGNORED_KEYS:
        return
    if key.startswith("data."):
        data = dict(values.get("data") or {})
        if value is None:
            data.pop(key[5:], None)
        else:
            data[key[5:]] = value
        values["data"] = data
    else:
        values[key] = value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return value


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return as_utc(value) if isinstance(value, datetime) else None


def rebuild(current: Mapping[str, Any], logged: Sequence[LoggedEvent]) -> list[Step]:
    """The order's steps, oldest first (the first is its creation). `logged` in time order."""
    created_at = _moment(current.get("created_at"))
    logged = sorted((e for e in logged if _moment(e.at) is not None), key=lambda e: _moment(e.at))
    if created_at is None:
        created_at = _moment(logged[0].at) if logged else None
    if created_at is None:
        return []
    once = {k: _moment(current.get(k)) for k in SET_ONCE}
    values: dict[str, Any] = dict(current)
    for event in reversed(logged):
        for key, value in (event.before or {}).items():
            _set(values, key, value)
        if event.type == "urged" and isinstance((event.after or {}).get("urge_count"), int):
            values["urge_count"] = event.after["urge_count"] - 1
    creation = next((e for e in logged if e.type == "created"), None)
    if creation is not None:
        for key, value in (creation.after or {}).items():
            _set(values, key, value)
    contacts = [e for e in logged if e.type in CONTACT_EVENTS]
    values["last_customer_contact_at"] = None if contacts else _at_most(current.get("last_customer_contact_at"),
                                                                       created_at)
    moves_stage = any("stage" in (e.after or {}) for e in logged if e is not creation)
    # without a logged stage change the order is still in its first stage: its own time counts
    values["stage_entered_at"] = (_moment(current.get("stage_entered_at")) or created_at) if not moves_stage \
        else created_at
    values["created_at"] = created_at

    def settle(v: dict[str, Any], at: datetime) -> dict[str, Any]:
        for key in SET_ONCE:
            v[key] = once[key] if once[key] is not None and once[key] <= at else None
        for key in NUMBER_COLUMNS:
            v[key] = _number(v.get(key))
        return v

    steps = [Step(created_at, settle(dict(values), created_at),
                  tuple(events_of(values, {}, is_new=True)))]
    for event in logged:
        if event is creation:
            continue
        at = _moment(event.at)
        previous = dict(steps[-1].values)
        after = dict(previous)
        changes: dict[str, Any] = {}
        for key, value in (event.after or {}).items():
            if key in IGNORED_KEYS:
                continue
            top = "data" if key.startswith("data.") else key
            if top in after or top in ("data",) or key in ("urge_count",):
                changes.setdefault(top, previous.get(top))
                _set(after, key, value)
        if event.type in CONTACT_EVENTS:
            after["last_customer_contact_at"] = at
        if "stage" in changes and changes["stage"] != after.get("stage"):
            after["stage_entered_at"] = at
        else:
            changes.pop("stage", None)
        changes = {k: v for k, v in changes.items() if v != after.get(k)}
        rule_events = events_of(after, changes, is_new=False)
        if event.type == "customer_message":
            rule_events.append(("inbound_message", None))
        if event.type == "urged" and not any(e == "customer_urged" for e, _ in rule_events):
            rule_events.append(("customer_urged", None))
        steps.append(Step(at, settle(after, at), tuple(rule_events)))
    return steps


def _at_most(value: Any, limit: datetime) -> datetime | None:
    moment = _moment(value)
    return moment if moment is not None and moment <= limit else None
