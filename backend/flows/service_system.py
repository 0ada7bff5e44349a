"""The system completing a flow step (a connector reports the work done): one function, flush only.

Used by update-only vendor templates (backend/connectors/vendors/mes_progress.py): when the MES says a
work order is finished, the open to-dos of the order's production node are completed with no person
as actor and the reason as the note (the flow history shows "Task done" with that note; the order's
field change that caused it is in the order timeline with the connector as `via`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.flows.models import FlowInstance
from backend.flows.service_instance import _advance, _lock
from backend.orders.models import Order
from engine.flows import FlowState
from engine.flows.events import CompleteNode


def _open_at(state: FlowState, node_key: str) -> bool:
    return any(t.node_key == node_key and t.kind == "task" and t.status in ("pending", "queued") for t in state.tasks)


def complete_node(session: Session, *, order: Order, node_key: str, actor: Actor | None, now: datetime,
                  note: str) -> int:
    """Complete the open to-dos at `node_key` of every running flow of the order; how many flows
    moved (0 when none waits there: a node not reached yet or already done is left alone)."""
    moved = 0
    running = session.exec(select(FlowInstance.id).where(FlowInstance.order_id == order.id,
                                                         FlowInstance.status == "running")).scalars().all()
    for instance_id in running:
        instance = _lock(session, instance_id)
        if instance.status != "running" or not _open_at(FlowState.from_json(instance.state), node_key):
            continue
        _advance(session, instance, CompleteNode(node_key=node_key, note=note[:500]), actor=actor, now=now,
                 order=order)
        moved += 1
    return moved
