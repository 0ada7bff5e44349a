"""Worker jobs: deliver the outbox, hand notifications to channels, send daily digests."""

from __future__ import annotations

from datetime import datetime

from backend.clock import utcnow
from backend.notify import delivery
from backend.notify import service as notify_service
from backend.settings import get_settings


def deliver_outbox(bind, now: datetime) -> int:
    return delivery.deliver_outbox(bind, now, clock=utcnow)


def dispatch_notifications(bind, now: datetime) -> int:
    return notify_service.dispatch_notifications(bind, now, base_url=get_settings().public_base_url)


def send_digests(bind, now: datetime) -> int:
    return notify_service.send_digests(bind, now, base_url=get_settings().public_base_url)
