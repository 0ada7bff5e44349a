"""Signed inbound customer messages: an e-mail gateway or chat robot posts what a customer wrote
about an order to POST /api/v1/inbound/{source}/messages.

Same signing, replay window and delivery log as the order webhook (backend/ingest/inbound.py);
the body names the order and carries the text:
`{"number": "SO20261126-00001" | "external_id": "W-1001", "text": "...", "from": "buyer@example.com"}`.
`external_id` is looked up among the orders of the URL's source, or of `"source"` when given
(a mail gateway writes about orders the web shop created). The message then takes the same path as
one typed on the tracking page (backend/tracking/messages.py), rules' `inbound_message` included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from backend.errors import GendanError
from backend.ingest import inbound
from backend.ingest.models import InboundDelivery, InboundSource
from backend.orders.models import Order
from backend.tracking import messages as customer_messages


class MessageResult(BaseModel):
    delivery_id: int
    outcome: Literal["message"]
    order_id: int
    number: str


def receive_message(session: Session, *, source_key: str, body: bytes, signature: str | None,
                    timestamp: str | None, now: datetime, delivery_id: str | None = None,
                    client: str | None = None) -> MessageResult:
    """Verify one delivery and record its customer message. A refusal records nothing but its log row."""
    def apply(source: InboundSource, fields: dict[str, Any], delivery: InboundDelivery) -> MessageResult:
        if not isinstance(fields, dict):  # a mapped source's body may be a list: not a message
            raise GendanError("inbound.body_invalid")
        order = _find_order(session, source, fields, delivery)
        text, contact = fields.get("text"), fields.get("from")
        wrong = {name: ("field.string_type", {"field": name}) for name, value in (("text", text), ("from", contact))
                 if value is not None and not isinstance(value, str)}
        if wrong:
            raise GendanError("inbound.message_invalid", {"count": len(wrong)}, fields=wrong)
        try:
            text, contact = customer_messages.clean(text, contact)
        except GendanError as exc:
            raise GendanError("inbound.message_invalid", {"count": len(exc.fields)}, fields=exc.fields) from exc
        customer_messages.record_customer_message(session, order, text=text, contact=contact,
                                                  via=f"webhook:{source.key}", now=now)
        delivery.is_accepted, delivery.outcome, delivery.order_id = True, "message", order.id
        session.add(delivery)
        session.commit()
        return MessageResult(delivery_id=delivery.id, outcome="message", order_id=order.id, number=order.number)

    return inbound.logged_delivery(session, source_key=source_key, body=body, signature=signature,
                                   timestamp=timestamp, now=now, apply=apply, delivery_id=delivery_id, client=client)


def _find_order(session: Session, source: InboundSource, fields: dict[str, Any], delivery: InboundDelivery) -> Order:
    """The order named by `number`, else by `external_id` (in `source`, default the URL's), locked."""
    number, external_id = fields.get("number"), fields.get("external_id")
    if number not in (None, ""):
        value = str(number)[:120]
        stmt = select(Order).where(Order.number == value)
    elif external_id not in (None, ""):
        value = str(external_id)[:120]
        stmt = select(Order).where(Order.source == str(fields.get("source") or source.key),
                                   Order.external_id == value)
    else:
        raise GendanError("inbound.message_invalid", {"count": 1},
                          fields={"number": ("field.missing", {"field": "number"})})
    delivery.external_id = value
    order = session.exec(stmt.with_for_update()).scalars().first()
    if order is None:
        raise GendanError("inbound.order_unknown", {"value": value[:40]})
    return order
