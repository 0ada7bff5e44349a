"""Shipments on orders: subscribe when an order has a carrier and a tracking number, store what the
carrier's feed says, and when it says "signed" record `signed_at` and complete the flow's sign-off
step by itself (系统根据物流信息自动判断客户是否签收).

Two pipeline stages (backend/pipeline_assembly.py): `stamp_signed_at` (check, before the row is
written) gives an order signed for by a person (`data.signed_on` filled at the sign-off step) its
`signed_at`; `subscribe` (after) opens the shipment the poll job and the push endpoint feed.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.logistics import kuaidi100
from backend.logistics.models import Shipment, ShipmentEvent
from backend.orders import reached as orders_reached
from backend.orders.models import Order
from backend.orders.service import record_event
from backend.pipeline import OrderChange
from engine.facts.catalogue import as_utc
from engine.flows import FlowState

log = logging.getLogger("gendan.logistics")

LOGISTICS = Actor(user_id=0, username="logistics", display_name="logistics", roles=frozenset({"admin"}),
                  via="logistics")
SIGN_OFF_FIELD = "data.signed_on"
SIGN_OFF_NODE = "customer_signoff"
_MAX_FIELD = 80


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# --- pipeline stages ---------------------------------------------------------------------------


def stamp_shipped_at(session: Session, change: OrderChange) -> None:
    """Check stage: the first time an order carries both a carrier and a tracking number it has been
    handed over: `shipped_at` is now (the order stays in its shipping stage until sign-off, so rules
    such as "not shipped within 3 days" tell waiting from travelling by this column)."""
    order = change.order
    if order.shipped_at is not None or not (
            change.is_new or {"data.carrier", "data.tracking_no"} & change.changed_fields):
        return
    data = order.data or {}
    if _text(data.get("carrier")) and _text(data.get("tracking_no")):
        order.shipped_at = change.now


def stamp_signed_at(session: Session, change: OrderChange) -> None:
    """Check stage: a sign-off date entered by a person (or brought by an import) makes the order
    signed: at the end of that day in the installation's zone, or now when that is later than now
    (signed today). An import of old orders therefore does not look freshly signed."""
    order = change.order
    signed_on = (order.data or {}).get("signed_on")
    if order.signed_at is not None or not signed_on or not (
            change.is_new or "data.signed_on" in change.changed_fields):
        return
    try:
        day = date.fromisoformat(str(signed_on)[:10])
    except ValueError:
        order.signed_at = change.now
        return
    from backend.installation.service import get_installation

    zone = get_installation(session).calendar.zone
    end_of_day = datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
    order.signed_at = min(end_of_day, change.now)


def subscribe(session: Session, change: OrderChange) -> None:
    """Logistics stage: carrier and tracking number both set (or changed) -> an active shipment,
    polled soon; an older shipment of the order with another number stops being followed."""
    if not (change.is_new or {"data.carrier", "data.tracking_no"} & change.changed_fields):
        return
    order = change.order
    data = order.data or {}
    carrier, number = _text(data.get("carrier")), _text(data.get("tracking_no"))
    if not carrier or not number or len(carrier) > _MAX_FIELD or len(number) > _MAX_FIELD:
        return
    shipments = session.exec(select(Shipment).where(Shipment.order_id == order.id)).scalars().all()
    current = None
    for shipment in shipments:
        if shipment.carrier == carrier and shipment.tracking_no == number:
            current = shipment
        elif shipment.is_active:
            shipment.is_active = False
            shipment.updated_at = change.now
    if current is None:
        current = Shipment(order_id=order.id, carrier=carrier, tracking_no=number, created_at=change.now,
                           updated_at=change.now, next_poll_at=change.now,
                           is_active=order.status == "open" and order.signed_at is None)
        session.add(current)
    session.flush()


# --- the feed ----------------------------------------------------------------------------------


def apply_feed(session: Session, shipment: Shipment, feed: kuaidi100.Feed, *, now: datetime) -> int:
    """Store the feed's new events (deduplicated by time and text) and its state; sign the order
    off when it says signed. Flush only. Returns how many events were new."""
    known = {(as_utc(at), context) for at, context in session.execute(
        select(ShipmentEvent.at, ShipmentEvent.context).where(ShipmentEvent.shipment_id == shipment.id))}
    added = 0
    for event in feed.events:
        key = (event.at, event.context)
        if key in known:
            continue
        known.add(key)
        session.add(ShipmentEvent(shipment_id=shipment.id, at=event.at, context=event.context,
                                  location=event.location, status=event.status, raw_status=event.raw_status,
                                  created_at=now))
        added += 1
    shipment.state = feed.state
    shipment.last_error = None
    shipment.failures = 0
    shipment.updated_at = now
    session.flush()
    signed_at = feed.signed_at
    if signed_at is not None and shipment.signed_at is None:
        shipment.signed_at = signed_at
        shipment.is_active = False
        mark_signed(session, shipment, signed_at=signed_at, now=now)
    return added


def mark_signed(session: Session, shipment: Shipment, *, signed_at: datetime, now: datetime) -> bool:
    """The customer signed for the order: `signed_at`, the timeline, and the flow's sign-off step
    completed by the system ("logistics"), which moves the order on. False when it already was."""
    order = session.exec(select(Order).where(Order.id == shipment.order_id).with_for_update()).scalars().first()
    if order is None or order.signed_at is not None:
        return False
    order.signed_at = signed_at
    orders_reached.mark_signed(order)
    reason = f"{shipment.carrier} {shipment.tracking_no}: signed {signed_at.isoformat()}"
    record_event(session, order, type="signed", actor=LOGISTICS, now=now, actor_label="logistics",
                 after={"signed_at": signed_at.isoformat(), "carrier": shipment.carrier,
                        "tracking_no": shipment.tracking_no}, note=reason)
    session.flush()
    try:  # the flow may refuse (a form that lacks the field): signed_at and the events stay
        with session.begin_nested():
            _complete_sign_off(session, order, signed_at=signed_at, reason=reason, now=now)
    except GendanError as exc:
        log.warning("order %s: sign-off step not completed from the feed: %s", order.number, exc.code)
        shipment.last_error = {"code": exc.code, "params": exc.params, "at": now.isoformat()}
    return True


def _complete_sign_off(session: Session, order: Order, *, signed_at: datetime, reason: str, now: datetime) -> None:
    from backend.flows import service_instance as flows
    from backend.installation.service import get_installation
    from engine.flows.events import CompleteTask

    day = get_installation(session).today(signed_at).isoformat()
    running = session.exec(select(FlowInstance).where(FlowInstance.order_id == order.id,
                                                      FlowInstance.status == "running")).scalars().all()
    for instance in running:
        instance = flows._lock(session, instance.id)
        defn = flows._definition(session, instance)
        for task in FlowState.from_json(instance.state).open_tasks():
            node = defn.node(task.node_key)
            if task.kind != "task" or task.status != "pending":
                continue
            if node.key != SIGN_OFF_NODE and SIGN_OFF_FIELD not in (node.required_fields or []):
                continue
            values = {SIGN_OFF_FIELD: day} if SIGN_OFF_FIELD in (node.required_fields or []) else {}
            event = CompleteTask(actor_id=0, task_id=task.id, values=values, by_system=True,
                                 note=f"logistics: {reason}")
            flows._advance(session, instance, event, actor=LOGISTICS, now=now, order=order)
            log.info("order %s: sign-off completed from the carrier's feed", order.number)
            return
