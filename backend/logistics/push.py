"""The aggregator calls us back (订阅推送): verify its signature, store the events, answer in its
own JSON. Every refusal is recorded on the source's health and answered with a 4xx the
aggregator retries later, so nothing is lost and nothing changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import or_, select
from sqlmodel import Session

from backend.connectors import crypto
from backend.errors import GendanError
from backend.logistics import kuaidi100
from backend.logistics import service as logistics_service
from backend.logistics.models import Shipment, TrackingSource

OK = {"result": True, "returnCode": "200", "message": "成功"}
MAX_PARAM = 500_000


def _fields(body: bytes, content_type: str) -> tuple[str, str]:
    """`param` and `sign` from a form post (the aggregator's way) or a JSON object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise GendanError("logistics.push_invalid", {}) from None
    if "json" in (content_type or ""):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise GendanError("logistics.push_invalid", {}) from None
        if not isinstance(value, dict):
            raise GendanError("logistics.push_invalid", {})
        param = value.get("param")
        param = json.dumps(param, ensure_ascii=False) if isinstance(param, dict) else param
        return (param if isinstance(param, str) else ""), str(value.get("sign") or "")
    form = parse_qs(text, max_num_fields=20)
    return (form.get("param") or [""])[0], (form.get("sign") or [""])[0]


def _source(session: Session, key: str) -> TrackingSource:
    source = None
    if 0 < len(key) <= 64:
        source = session.exec(select(TrackingSource).where(TrackingSource.push_key == key)).scalars().first()
    if source is None or not source.is_enabled:
        raise GendanError("logistics.source_not_found", {"id": key[:64]})
    return source


def receive(session: Session, *, key: str, body: bytes, content_type: str, now: datetime) -> dict[str, Any]:
    source = _source(session, key)
    source_id = source.id
    try:
        return _receive(session, source, body=body, content_type=content_type, now=now)
    except GendanError as exc:
        session.rollback()
        source = session.get(TrackingSource, source_id)
        if source is not None:
            source.last_push_at = now
            source.last_push_error = {"code": exc.code, "params": exc.params, "at": now.isoformat()}
            session.commit()
        raise


def _receive(session: Session, source: TrackingSource, *, body: bytes, content_type: str,
             now: datetime) -> dict[str, Any]:
    param, sign = _fields(body, content_type)
    if not param or len(param) > MAX_PARAM:
        raise GendanError("logistics.push_invalid", {})
    if not sign:
        raise GendanError("logistics.push_signature_invalid", {})
    salt = crypto.decrypt(source.secrets).get("salt", "")
    if not kuaidi100.push_sign_ok(param, sign, salt):
        raise GendanError("logistics.push_signature_invalid", {})
    feed = kuaidi100.parse_push(param)
    shipments = session.exec(select(Shipment).where(
        Shipment.tracking_no == feed.tracking_no,
        # followed ones, and signed ones (a repeated "signed" push is answered OK and stores nothing
        # twice); a number replaced on its order is no longer followed
        or_(Shipment.is_active.is_(True), Shipment.signed_at.is_not(None))).order_by(Shipment.id)).scalars().all()
    if not feed.tracking_no or not shipments:
        raise GendanError("logistics.unknown_number", {"code": "", "message": feed.tracking_no[:80]})
    for shipment in shipments:
        logistics_service.apply_feed(session, shipment, feed, now=now)
    source.last_push_at, source.last_push_error = now, None
    session.commit()
    return OK
