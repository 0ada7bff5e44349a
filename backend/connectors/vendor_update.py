"""Update-only vendor templates (`VendorTemplate.update_only`): a record updates an order that
already exists and never creates one (an MES reports production progress of orders another system
or a person entered).

The record's `external_id` target holds the reference to the order: it is looked up by order number
first, then by external id in any source (the lowest id when several sources share it). An unknown
reference is the record's error (`vendor.order_not_found`, in the reader's language on the health
page); amount and customer are not required. Only the fields the record carries with a value other
than the order's change (designed fields one by one; the stage never: the flow moves it), through
`orders.service.update_order` (the order pipeline: event, flows, rules) with `via="connector"`.
A template module may define `after_update(session, ctx, order, record)` (flush only), called in
the same transaction after the update (or with nothing changed): the MES template completes the
production step there. Counters and cursor move in that transaction as for every record.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend.connectors import vendors
from backend.ingest import service as ingest_service
from backend.ingest.rows import ParsedRow
from backend.ingest.schemas import RowError
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate

NOT_REQUIRED = frozenset({"amount", "customer"})
CORE = ("amount", "currency", "planned_delivery", "payment_due")


def applies(settings: Any) -> bool:
    template = vendors.get(getattr(settings, "vendor", ""))
    return template is not None and template.update_only


def parse(position: int, record: Any, ctx) -> ParsedRow | None:
    """The record as a row without the create-only requirements; None for other templates."""
    from backend.connectors.runner import parse_record

    if not applies(ctx.config):
        return None
    template = vendors.get(ctx.config.vendor)
    # the template's value types (the connector form does not carry them) under the saved ones
    types = {**(template.mapping.get("data_types") or {}), **ctx.mapping.data_types}
    mapping = ctx.mapping.model_copy(update={"data_types": types}) if types != ctx.mapping.data_types else ctx.mapping
    row = parse_record(position, record, mapping, ctx.zone, ctx.fields)
    row.errors = [e for e in row.errors if not (e.code == "import.value_missing" and e.field in NOT_REQUIRED)]
    return row


def find_order(session: Session, ref: str) -> Order | None:
    found = session.exec(select(Order).where(Order.number == ref)).scalars().first()
    if found is None:
        found = session.exec(select(Order).where(Order.external_id == ref).order_by(Order.id)).scalars().first()
    return found


def changes_for(order: Order, parsed: ParsedRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CORE:
        value = parsed.values.get(name)
        if value is not None and not orders_service.sent_values_match(getattr(order, name), value):
            out[name] = value
    data = {k: v for k, v in (parsed.values.get("data") or {}).items()
            if v is not None and not orders_service.sent_values_match((order.data or {}).get(k), v)}
    if data:
        out["data"] = data
    return out


def write(session: Session, ctx, parsed: ParsedRow, record: Any, token) -> list[RowError]:
    from backend.connectors.runner import _book

    ref = str(parsed.values.get("external_id") or "")
    order = find_order(session, ref)
    if order is None:
        session.rollback()
        path = ctx.mapping.columns.get("external_id", "")
        return [RowError(line=parsed.line, column=path, field="external_id", code="vendor.order_not_found",
                         params={"ref": ref[:120]})]
    changes = changes_for(order, parsed)
    if changes:
        try:
            payload = OrderUpdate.model_validate({"version": order.version, **changes})
        except ValidationError as exc:
            session.rollback()
            return ingest_service._pydantic_errors(exc, parsed, ctx.mapping)
        _book(session, ctx, "updated", record, token)
        orders_service.update_order(session, actor=ctx.actor, order_id=order.id, payload=payload, now=ctx.now,
                                    via="connector", commit=False)
    else:
        _book(session, ctx, "unchanged", record, token)
    after = getattr(vendors.modules().get(ctx.config.vendor), "after_update", None)
    if after is not None:
        session.refresh(order)
        after(session, ctx, order, record)
    ctx.lease.fence(session)
    session.commit()
    return []
