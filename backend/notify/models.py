"""In-app notifications and the outbox every external message leaves through."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user_read", "user_id", "read_at"),
        Index("uq_notification_dedupe_user", "dedupe_key", "user_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255)
    user_id: int = Field(foreign_key="app_user.id")
    order_id: int | None = Field(default=None, foreign_key="sales_order.id")
    title: str = Field(max_length=300)
    # the title per locale when a designer named it in several ({"zh-CN": …, "en": …}); see backend/localized.py
    title_i18n: dict[str, str] | None = Field(default=None, sa_type=JSONType)
    body: str = Field(default="", max_length=4000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # channels the sender asked for besides in-app (a rule's "email" / "chat"); the user's
    # preferences add theirs (backend/notify/service.py:dispatch_notifications)
    channels: list[str] = Field(default_factory=list, sa_type=JSONType)


class OutboxMessage(SQLModel, table=True):
    """Written in the same transaction as the change that caused it; delivered by the worker."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)
    channel: str = Field(max_length=20)  # email / dingtalk / wecom / feishu / webhook / sms
    recipient: str = Field(max_length=500)  # address, webhook URL, phone
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    order_id: int | None = Field(default=None, foreign_key="sales_order.id", index=True)
    state: str = Field(default="pending", max_length=12)  # pending / sending / sent / failed / dead
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxAttachment(SQLModel, table=True):
    """A file sent with an outbox e-mail (a scheduled report's .xlsx), stored with the message so a
    retry sends the same bytes. Bounded by MAX_ATTACHMENT_BYTES (backend/notify/attachments.py)."""

    __tablename__ = "outbox_attachment"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id", index=True)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=120)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class OutboxAttempt(SQLModel, table=True):
    __tablename__ = "outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    ok: bool
    detail: str = Field(default="", max_length=2000)


class ChannelConfig(SQLModel, table=True):
    """A configured outbound channel: an SMTP server, a chat robot webhook, an SMS gateway, ...

    `target` is the robot/webhook/gateway URL (or `host:port` for email); `secret` signs requests
    (DingTalk sign, generic webhook HMAC) or is the gateway's API key; `options` holds the rest
    (email sender, SMS body template, extra headers).
    """

    __tablename__ = "notify_channel"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    kind: str = Field(max_length=20)  # email / dingtalk / wecom / feishu / webhook / sms
    target: str = Field(max_length=500)
    secret: str | None = Field(default=None, max_length=255)
    options: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    is_enabled: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class NotificationPreference(SQLModel, table=True):
    """How one person wants to be told: channels, quiet hours (local time), daily digest."""

    __tablename__ = "notification_preference"

    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    channels: list[str] = Field(default_factory=lambda: ["in_app"], sa_type=JSONType)
    quiet_start: str | None = Field(default=None, max_length=5)  # "22:00"
    quiet_end: str | None = Field(default=None, max_length=5)  # "07:30"
    timezone: str = Field(default="", max_length=40)  # "": the installation's zone, whatever it is then
    is_digest: bool = False
    digest_hour: int = 18
    last_digest_on: date | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime)


class NotificationDispatch(SQLModel, table=True):
    """Marks a notification as handed to the external channels (or to the digest), exactly once."""

    __tablename__ = "notification_dispatch"

    notification_id: int = Field(foreign_key="notification.id", primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    mode: str = Field(max_length=10)  # sent / digest / in_app
