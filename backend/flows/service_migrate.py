"""Moving running orders to a newer flow version: preview, then an audited admin action.

Preview lists, per running instance of older versions, where each active step would go under
the admin's node mapping (and which instances cannot move, with the reason). Applying moves each
movable instance in its own locked step (like any other action), records a `flow.migrated`
order event with the mapping, and commits once at the end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.flows.directory import load_directory
from backend.flows.models import FlowDefinitionRow, FlowInstance
from backend.flows.service import error, get_row, on_installation_calendar
from backend.flows.service_instance import _lock, order_facts
from backend.orders.models import Order
from engine.flows import FlowError, FlowState
from engine.flows.definition import load_definition
from engine.flows.migrate import migrate, plan


class MigrationIn(BaseModel):
    to_version: int
    mapping: dict[str, str] = Field(default_factory=dict)
    instance_ids: list[int] | None = None


class MoveRead(BaseModel):
    source: str
    target: str | None
    problem: str | None = None


class InstancePlan(BaseModel):
    instance_id: int
    order_id: int
    from_version: int
    moves: list[MoveRead]
    movable: bool


class MigrationPreview(BaseModel):
    to_version: int
    instances: list[InstancePlan]
    movable: int
    blocked: int


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")


def _candidates(session: Session, key: str, to_version: int, ids: list[int] | None) -> list[FlowInstance]:
    query = select(FlowInstance).where(FlowInstance.flow_key == key, FlowInstance.status == "running",
                                       FlowInstance.flow_version < to_version).order_by(FlowInstance.id)
    if ids is not None:
        query = query.where(FlowInstance.id.in_(ids))
    return list(session.exec(query).scalars().all())


def preview_migration(session: Session, *, actor: Actor, key: str, body: MigrationIn) -> MigrationPreview:
    _require_admin(actor)
    target = get_row(session, key, body.to_version)
    if target.status == "draft":
        raise error("flow.not_published", key=key)
    new = load_definition(target.definition)
    plans = []
    for instance in _candidates(session, key, body.to_version, body.instance_ids):
        old = load_definition(session.get(FlowDefinitionRow, instance.definition_id).definition)
        moves = plan(old, new, FlowState.from_json(instance.state), body.mapping)
        plans.append(InstancePlan(instance_id=instance.id, order_id=instance.order_id,
                                  from_version=instance.flow_version,
                                  moves=[MoveRead(source=m.source, target=m.target, problem=m.problem) for m in moves],
                                  movable=not any(m.problem for m in moves)))
    movable = sum(p.movable for p in plans)
    return MigrationPreview(to_version=body.to_version, instances=plans, movable=movable, blocked=len(plans) - movable)


def migrate_instances(session: Session, *, actor: Actor, key: str, body: MigrationIn, now: datetime) -> dict[str, Any]:
    """Move every movable instance; the others stay on their version (listed in `skipped`)."""
    preview = preview_migration(session, actor=actor, key=key, body=body)
    target = get_row(session, key, body.to_version)
    new = on_installation_calendar(session, load_definition(target.definition))
    directory = load_directory(session)
    moved, skipped = [], []
    for item in preview.instances:
        if not item.movable:
            skipped.append(item.instance_id)
            continue
        instance = _lock(session, item.instance_id)
        old = on_installation_calendar(
            session, load_definition(session.get(FlowDefinitionRow, instance.definition_id).definition))
        order = session.get(Order, instance.order_id)
        try:
            result = migrate(old, new, FlowState.from_json(instance.state), body.mapping, now,
                             directory=directory, facts=order_facts(order), actor_id=actor.user_id)
        except FlowError:
            skipped.append(instance.id)
            continue
        apply_effects(session, list(result.effects), order=order, actor=actor, now=now, source="flow")
        instance.state = result.state.to_json()
        instance.status = result.state.status
        instance.definition_id = target.id
        instance.flow_version = target.version
        instance.version += 1
        instance.updated_at = now
        moved.append(instance.id)
    session.commit()
    return {"moved": moved, "skipped": skipped, "to_version": body.to_version}
