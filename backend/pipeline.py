"""The order-change pipeline: every change of an order, whoever makes it, passes the same named
stages in the same order.

Why this exists: an order change used to travel through global hook lists filled at import time,
so what ran (and in which order) depended on which modules happened to be imported. Now the app's
assembly (backend/pipeline_assembly.py) builds one `Pipeline` value, and the database handle the
app hands out (engine or test connection) carries it as an execution option, so every session
opened on that handle finds the same pipeline (`of(session)`): request handlers, worker jobs,
imports and effects alike. A test that needs a different pipeline builds one and `use()`s it on
its session.

A change is one frozen `OrderChange`. `Pipeline.check` runs before the row is written (form
validation may refuse or complete the order); `Pipeline.publish` runs after it (record the event,
flows, rules, customer messages, live push). A stage is a plain named function
`(session, change) -> None`; stages flush at most, the use case commits.

Effects that change the order (`SetField`, `EnterStage`, `AddTag`, ...) re-enter the same
pipeline as a change one level deeper (backend/effects.py). `MAX_DEPTH` stops a rule or flow that
keeps answering its own change: past it the write is refused and recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.orders.models import Order

log = logging.getLogger("gendan.pipeline")

MAX_DEPTH = 3
ERROR_MESSAGES = {  # English msgids; Chinese in flows.po (read by backend/i18n.py)
    "pipeline.depth_exceeded": "Rules and flows kept changing this order in answer to each other; "
                               "stopped after %(depth)s rounds.",
}
OPTION = "gendan_pipeline"  # the execution option that carries the pipeline on an engine/connection
_SESSION_KEY = "gendan.pipeline"
_DEPTH_KEY = "gendan.pipeline.depth"

TRACKED_FIELDS = (
    "customer_id", "owner_id", "amount", "currency", "stage", "status", "planned_delivery",
    "payment_due", "data", "tags", "risk_flags",
)


_AS_IS = frozenset({str, int, bool, float})  # immutable and JSON-ready (a snapshot per order written)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def snapshot(order: Order, fields: tuple[str, ...] = TRACKED_FIELDS) -> dict[str, Any]:
    """The order's tracked values as JSON-ready copies (later writes to the row do not reach it)."""
    out = {}
    loaded = order.__dict__  # a loaded column's value; getattr only for one expired or deferred
    for f in fields:
        value = loaded[f] if f in loaded else getattr(order, f)
        kind = type(value)
        if value is None or kind in _AS_IS:
            out[f] = value
        elif kind is dict:
            out[f] = dict(value)
        elif kind is list:
            out[f] = list(value)
        else:
            out[f] = _jsonable(value)
    return out


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> frozenset[str]:
    """Columns that differ, plus `data.<key>` for each designed field that differs."""
    if before is None:  # a plain scalar is never None, [] or {}: compared only when it is not one
        return frozenset(k for k, v in after.items() if type(v) in _AS_IS or v not in (None, [], {}))
    out = {k for k in after if before.get(k) != after[k]}
    if "data" in out:
        old, new = before.get("data") or {}, after.get("data") or {}
        out |= {f"data.{k}" for k in set(old) | set(new) if old.get(k) != new.get(k)}
    return frozenset(out)


@dataclass(frozen=True)
class OrderChange:
    """One change of one order, as every stage sees it.

    `before` is the snapshot before the change (None for a new order), `after` the snapshot after
    it; `changed_fields` holds column names and `data.<key>` names. `via` says who wrote it
    ("api", "page", "import", "webhook", "effect:flow", "effect:rule", ...); `depth` is 0 for a
    person's or a system's change and n for a change made by effects n levels deep.
    """

    order: Order
    before: dict[str, Any] | None
    after: dict[str, Any]
    changed_fields: frozenset[str]
    actor: Actor | None
    via: str
    now: datetime
    is_new: bool
    depth: int = 0
    event_type: str = "updated"
    note: str | None = None

    @classmethod
    def of(cls, order: Order, *, before: dict[str, Any] | None, actor: Actor | None, via: str, now: datetime,
           depth: int = 0, event_type: str | None = None, note: str | None = None) -> OrderChange:
        after = snapshot(order)
        fields = changed_fields(before, after)
        if event_type is None:
            event_type = "created" if before is None else "stage_entered" if "stage" in fields else "updated"
        return cls(order=order, before=before, after=after, changed_fields=fields, actor=actor, via=via, now=now,
                   is_new=before is None, depth=depth, event_type=event_type, note=note)

    def again(self) -> OrderChange:
        """The same change re-read from the order (a check stage may have completed it)."""
        after = snapshot(self.order)
        if after == self.after:  # the checks left the tracked values as they were (most changes)
            return self.but(after=after)
        return self.but(after=after, changed_fields=changed_fields(self.before, after))

    def but(self, **values: Any) -> OrderChange:
        """This change with `values` replaced (`dataclasses.replace` without re-running the
        constructor: a change is copied per order written)."""
        out = object.__new__(OrderChange)
        out.__dict__.update(self.__dict__, **values)
        return out

    @property
    def columns(self) -> tuple[str, ...]:
        """Changed columns (no `data.<key>` names), in TRACKED_FIELDS order."""
        return tuple(f for f in TRACKED_FIELDS if f in self.changed_fields)


Stage = Callable[[Session, OrderChange], None]
BatchStage = Callable[[Session, list[OrderChange]], None]
Applier = Callable[..., list]


@dataclass(frozen=True)
class NamedStage:
    """A stage; `run_many` is its batched form for many new orders at once (the bulk import),
    which must leave exactly what calling `run` on each change in turn leaves."""

    name: str
    run: Stage
    run_many: BatchStage | None = None

    def run_each(self, session: Session, changes: list[OrderChange]) -> None:
        if self.run_many is not None:
            self.run_many(session, changes)
            return
        for change in changes:
            self.run(session, change)


@dataclass(frozen=True)
class EffectAppliers:
    """Appliers for effect types backend/effects.py does not handle itself (flow timers, flow
    start), and the callback told which users' inboxes the effects touched (live push)."""

    by_type: Mapping[type, Applier] = field(default_factory=dict)
    on_touched: Callable[[Session, set[int]], None] | None = None


@dataclass(frozen=True)
class Pipeline:
    checks: tuple[NamedStage, ...] = ()
    stages: tuple[NamedStage, ...] = ()
    appliers: EffectAppliers = EffectAppliers()
    max_depth: int = MAX_DEPTH

    @property
    def names(self) -> list[str]:
        return [s.name for s in (*self.checks, *self.stages)]

    def check(self, session: Session, change: OrderChange) -> OrderChange:
        """Before the row is written: a check may refuse (raise) or complete the order."""
        for stage in self.checks:
            stage.run(session, change)
        return change.again() if self.checks else change

    def publish(self, session: Session, change: OrderChange) -> None:
        """After the row is written (flushed): every stage in order, at the change's depth."""
        outer = session.info.get(_DEPTH_KEY, 0)
        session.info[_DEPTH_KEY] = change.depth
        try:
            for stage in self.stages:
                stage.run(session, change)
        finally:
            session.info[_DEPTH_KEY] = outer

    def publish_many(self, session: Session, changes: list[OrderChange]) -> None:
        """`publish` for many changes of different orders at one depth (the bulk import's new
        orders): stage by stage over all of them, each stage in its batched form when it has one.
        Stages look at one order at a time, so this leaves what publishing them one by one does."""
        if not changes:
            return
        if len({c.depth for c in changes}) != 1 or len({id(c.order) for c in changes}) != len(changes):
            raise ValueError("publish_many takes changes of distinct orders at one depth")
        outer = session.info.get(_DEPTH_KEY, 0)
        session.info[_DEPTH_KEY] = changes[0].depth
        try:
            for stage in self.stages:
                stage.run_each(session, changes)
        finally:
            session.info[_DEPTH_KEY] = outer


def depth(session: Session) -> int:
    """The depth of the change whose stages are running on this session (0 outside any)."""
    return session.info.get(_DEPTH_KEY, 0)


def attach(bind: Engine | Connection, pipeline: Pipeline) -> Engine | Connection:
    """The handle to give out: sessions opened on it find `pipeline`. An engine is copied (sharing
    its pool); a connection is changed in place (what SQLAlchemy does for connections)."""
    return bind.execution_options(**{OPTION: pipeline})


def use(session: Session, pipeline: Pipeline) -> Session:
    """Run this session's changes through `pipeline` (tests that assemble their own)."""
    session.info[_SESSION_KEY] = pipeline
    return session


def of(session: Session) -> Pipeline:
    found = session.info.get(_SESSION_KEY)
    if found is None:
        found = session.get_bind().get_execution_options().get(OPTION)
    if found is None:
        raise RuntimeError("this session's database handle has no order pipeline; "
                           "backend.pipeline_assembly.assemble() gives it one")
    return found
