"""Notifications JSON API: my notifications and preferences; admins: outbox, channels, test-send."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from backend.auth.deps import CurrentActor, DbSession, WritingActor
from backend.clock import utcnow
from backend.notify import delivery
from backend.notify import service as notify_service

router = APIRouter(prefix="/api/v1", tags=["notifications"])


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    body: str
    order_id: int | None
    created_at: datetime
    read_at: datetime | None


class PreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[str] = Field(default_factory=list, max_length=10)
    quiet_start: str | None = None
    quiet_end: str | None = None
    is_digest: bool = False
    digest_hour: int = 18
    timezone: str = Field(default="", max_length=60)  # "": the installation's zone (backend/installation)


class PreferenceRead(PreferenceIn):
    model_config = ConfigDict(from_attributes=True)


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    kind: Literal["email", "dingtalk", "wecom", "feishu", "webhook", "sms"]
    target: str = Field(min_length=1, max_length=500)
    secret: str | None = Field(default=None, max_length=255)
    options: dict[str, Any] = Field(default_factory=dict)
    is_enabled: bool = True


class ChannelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    target: str
    has_secret: bool = False
    options: dict[str, Any]
    is_enabled: bool


class OutboxRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    channel: str
    recipient: str
    subject: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class TestSendIn(BaseModel):
    recipient: str = Field(default="", max_length=500)


def _channel_read(config) -> ChannelRead:
    read = ChannelRead.model_validate(config)
    read.has_secret = bool(config.secret)
    return read


@router.get("/notifications", response_model=list[NotificationRead])
def list_notifications(session: DbSession, actor: CurrentActor, unread: bool = False):
    return notify_service.list_notifications(session, actor=actor, is_unread_only=unread)


@router.post("/notifications/{notification_id}/read")
def read_one(session: DbSession, actor: CurrentActor, notification_id: int) -> dict[str, int]:
    return {"changed": notify_service.mark_read(session, actor=actor, notification_id=notification_id, now=utcnow())}


@router.post("/notifications/read-all")
def read_all(session: DbSession, actor: CurrentActor) -> dict[str, int]:
    return {"changed": notify_service.mark_read(session, actor=actor, notification_id=None, now=utcnow())}


@router.get("/notifications/preferences", response_model=PreferenceRead)
def get_preferences(session: DbSession, actor: CurrentActor):
    return notify_service.get_preference(session, actor.user_id)


@router.put("/notifications/preferences", response_model=PreferenceRead)
def put_preferences(session: DbSession, actor: CurrentActor, body: PreferenceIn):
    return notify_service.save_preference(session, actor=actor, now=utcnow(), **body.model_dump())


@router.get("/outbox", response_model=list[OutboxRead])
def list_outbox(session: DbSession, actor: CurrentActor, state: str | None = None):
    return delivery.list_outbox(session, actor=actor, state=state)


@router.post("/outbox/{message_id}/resend", response_model=OutboxRead)
def resend(session: DbSession, actor: WritingActor, message_id: int):
    return delivery.resend(session, actor=actor, message_id=message_id, now=utcnow())


@router.get("/channels", response_model=list[ChannelRead])
def list_channels(session: DbSession, actor: CurrentActor):
    return [_channel_read(c) for c in notify_service.list_channels(session, actor=actor)]


@router.post("/channels", response_model=ChannelRead, status_code=201)
def create_channel(session: DbSession, actor: WritingActor, body: ChannelIn):
    return _channel_read(notify_service.save_channel(session, actor=actor, now=utcnow(), **body.model_dump()))


@router.put("/channels/{channel_id}", response_model=ChannelRead)
def update_channel(session: DbSession, actor: WritingActor, channel_id: int, body: ChannelIn):
    return _channel_read(notify_service.save_channel(session, actor=actor, now=utcnow(), channel_id=channel_id,
                                                     **body.model_dump()))


@router.post("/channels/{channel_id}/test", response_model=OutboxRead)
def test_channel(request: Request, session: DbSession, actor: WritingActor, channel_id: int, body: TestSendIn):
    return notify_service.test_send(session, actor=actor, channel_id=channel_id,
                                    recipient=body.recipient, now=utcnow(), settings=request.app.state.settings)
