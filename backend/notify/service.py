"""Notification use cases: the in-app center, preferences, channel configurations, test-send, and
the jobs that hand notifications to external channels (now, after quiet hours, or in a digest)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.db import new_session
from backend.effects import enqueue
from backend.errors import GendanError
from backend.installation.service import get_installation
from backend.localized import read_body, read_title
from backend.notify import delivery
from backend.notify.channels import KINDS
from backend.notify.models import (
    ChannelConfig,
    Notification,
    NotificationDispatch,
    NotificationPreference,
    OutboxMessage,
)
from backend.notify.preferences import EXTERNAL_CHANNELS, digest_due, parse_hhmm, quiet_until, zone
from backend.people.models import User
from backend.settings import Settings

CHANNEL_AUDITED = ("name", "kind", "target", "secret", "options", "is_enabled")
DISPATCH_WINDOW = timedelta(days=2)  # older undelivered notifications are not sent out any more


# --- in-app center ---------------------------------------------------------------------------------

def list_notifications(session: Session, *, actor: Actor, is_unread_only: bool = False,
                       limit: int = 50) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == actor.user_id)
    if is_unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.exec(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                             .limit(limit)).scalars().all())


def count_unread(session: Session, user_id: int) -> int:
    return session.exec(select(func.count()).select_from(Notification)
                        .where(Notification.user_id == user_id, Notification.read_at.is_(None))).scalar_one()


def mark_read(session: Session, *, actor: Actor, notification_id: int | None, now: datetime) -> int:
    """Mark one (or, with None, every) notification of the actor read. Returns how many changed."""
    query = update(Notification).where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        note = session.get(Notification, notification_id)
        if note is None or note.user_id != actor.user_id:
            raise GendanError("notification.not_found", {"id": notification_id})
        query = query.where(Notification.id == notification_id)
    changed = session.exec(query.values(read_at=now)).rowcount
    if changed:
        # the nav badge counts unread notifications: the user's other open pages follow
        from backend.live.publish import touch

        touch(session, {actor.user_id}, "inbox")
    session.commit()
    return changed


# --- preferences -----------------------------------------------------------------------------------

def get_preference(session: Session, user_id: int) -> NotificationPreference:
    pref = session.get(NotificationPreference, user_id)
    if pref is None:
        pref = NotificationPreference(user_id=user_id, channels=["in_app"], updated_at=datetime.min)
    return pref


def save_preference(session: Session, *, actor: Actor, channels: list[str], quiet_start: str | None,
                    quiet_end: str | None, is_digest: bool, digest_hour: int, timezone: str,
                    now: datetime) -> NotificationPreference:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, value in (("quiet_start", quiet_start), ("quiet_end", quiet_end)):
        try:
            parse_hhmm(value)
        except ValueError:
            fields[name] = ("preference.invalid_time", {"value": value})
    unknown = [c for c in channels if c not in ("in_app", *EXTERNAL_CHANNELS)]
    if unknown:
        fields["channels"] = ("preference.invalid_channel", {"channel": unknown[0]})
    if not 0 <= digest_hour <= 23:
        fields["digest_hour"] = ("field.less_than_equal", {"le": 23})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, fields=fields)
    pref = session.get(NotificationPreference, actor.user_id)
    if pref is None:
        pref = NotificationPreference(user_id=actor.user_id, updated_at=now)
        session.add(pref)
    pref.channels = list(dict.fromkeys(["in_app", *channels]))
    pref.quiet_start, pref.quiet_end = quiet_start or None, quiet_end or None
    # "" leaves the zone to the installation (it follows the admin's calendar); a chosen one is kept
    installation_zone = get_installation(session).timezone
    pref.is_digest, pref.digest_hour = is_digest, digest_hour
    pref.timezone = zone(timezone, installation_zone).key if timezone else ""
    pref.updated_at = now
    session.commit()
    return pref


# --- channel configurations ------------------------------------------------------------------------

def list_channels(session: Session, *, actor: Actor) -> list[ChannelConfig]:
    delivery._require_admin(actor)
    return list(session.exec(select(ChannelConfig).order_by(ChannelConfig.kind, ChannelConfig.name)).scalars().all())


def save_channel(session: Session, *, actor: Actor, name: str, kind: str, target: str, secret: str | None,
                 options: dict[str, Any] | None, is_enabled: bool, now: datetime,
                 channel_id: int | None = None) -> ChannelConfig:
    delivery._require_admin(actor)
    if kind not in KINDS:
        raise GendanError("channel.invalid_kind", {"kind": kind})
    target = target.strip()
    is_http = target.startswith(("http://", "https://"))
    if (kind == "email" and (is_http or not target)) or (kind != "email" and not is_http):
        raise GendanError("validation.failed", {"count": 1},
                          fields={"target": ("channel.invalid_target", {"target": target, "kind": kind})})
    taken = session.exec(select(ChannelConfig.id).where(ChannelConfig.name == name.strip())).first()
    if taken and taken[0] != channel_id:
        raise GendanError("channel.name_taken", {"name": name})
    before: dict[str, Any] = {}
    if channel_id is None:
        config = ChannelConfig(name=name.strip(), kind=kind, target=target, created_at=now, updated_at=now)
        session.add(config)
    else:
        config = session.get(ChannelConfig, channel_id)
        if config is None:
            raise GendanError("channel.not_found", {"id": channel_id})
        before = audit.snapshot(config, CHANNEL_AUDITED)
    config.name, config.kind, config.target, config.is_enabled = name.strip(), kind, target, is_enabled
    if secret:  # an empty secret field on the edit form keeps the stored one
        config.secret = secret
    config.options = dict(options or {})
    config.updated_at = now
    session.flush()
    audit.record(session, actor, "channel", config.id, "update" if before else "create", before,
                 audit.snapshot(config, CHANNEL_AUDITED), now)
    session.commit()
    return config


def test_send(session: Session, *, actor: Actor, channel_id: int, recipient: str, now: datetime,
              settings: Settings) -> OutboxMessage:
    """Send a test message through one configuration right away (through the outbox, so the
    attempt is logged like any other) and return the row with its outcome.

    Uses the caller's session: a second session would wait for the first one's SQLite lock."""
    delivery._require_admin(actor)
    config = session.get(ChannelConfig, channel_id)
    if config is None:
        raise GendanError("channel.not_found", {"id": channel_id})
    from backend.i18n import gettext as _

    row = enqueue(session, dedupe_key=f"test:{channel_id}:{now.timestamp()}", channel=config.kind,
                  recipient=recipient.strip(), subject=_("Gendan test message"),
                  body=_("If you can read this, the channel %(name)s works.", name=config.name),
                  payload={"config_id": channel_id, "data": {"test": True, "channel": config.name}},
                  order_id=None, now=now)
    if row is None:
        raise GendanError("outbox.already_queued", {"id": 0, "state": "pending"})
    row.state, row.locked_until = "sending", now + delivery.lease_of(settings)
    session.commit()
    delivery._attempt(session, row, token=row.locked_until, clock=lambda: now, settings=settings)
    return row


# --- handing notifications to external channels (worker jobs) -------------------------------------

def dispatch_notifications(bind: Engine | Connection, now: datetime, *, base_url: str = "") -> int:
    """Queue each new notification on the user's external channels (after quiet hours), or keep it
    for the digest. Each notification is handled once (notification_dispatch)."""
    handled = 0
    with new_session(bind) as session:
        rows = session.exec(
            select(Notification, User)
            .join(User, User.id == Notification.user_id)
            .outerjoin(NotificationDispatch, NotificationDispatch.notification_id == Notification.id)
            .where(NotificationDispatch.notification_id.is_(None), Notification.created_at >= now - DISPATCH_WINDOW)
            .order_by(Notification.id).limit(500)
        ).all()
        for note, user in rows:
            pref = get_preference(session, user.id)
            external = _channels_for(session, pref, note)
            if not external:
                mode = "in_app"
            elif pref.is_digest:
                mode = "digest"
            else:
                mode = "sent"
                send_at = quiet_until(now, start=pref.quiet_start, end=pref.quiet_end,
                                              tz=pref.timezone or get_installation(session).timezone) or now
                title = read_title(note.title, note.title_i18n, user.locale or "zh_CN")
                body = read_body(note.body, user.locale or "zh_CN")
                for channel in external:
                    _queue_for_user(session, user, channel, key=f"notif:{note.id}:{channel}", subject=title,
                                    body=body or title, link=_order_link(base_url, note.order_id),
                                    send_at=send_at, now=now)
            session.add(NotificationDispatch(notification_id=note.id, at=now, mode=mode))
            handled += 1
        session.commit()
    return handled


CHAT_KINDS = ("dingtalk", "wecom", "feishu")


def _channels_for(session: Session, pref: NotificationPreference, note: Notification) -> list[str]:
    """The user's chosen channels plus those the sender asked for ("chat": the user's chat
    channel, else the first configured robot)."""
    chosen = [c for c in pref.channels if c in EXTERNAL_CHANNELS]
    for asked in note.channels or []:
        if asked in EXTERNAL_CHANNELS:
            chosen.append(asked)
        elif asked == "chat":
            chats = [c for c in chosen if c in CHAT_KINDS]
            if not chats:
                configured = session.exec(select(ChannelConfig.kind).where(
                    ChannelConfig.kind.in_(CHAT_KINDS), ChannelConfig.is_enabled.is_(True))
                    .order_by(ChannelConfig.id)).scalars().first()
                if configured:
                    chosen.append(configured)
    return list(dict.fromkeys(chosen))


def send_digests(bind: Engine | Connection, now: datetime, *, base_url: str = "") -> int:
    """Once a day at the user's digest hour: one message listing the notifications kept for it."""
    from backend.i18n import ngettext, reset_locale, set_locale

    sent = 0
    with new_session(bind) as session:
        prefs = session.exec(select(NotificationPreference).where(NotificationPreference.is_digest.is_(True))).scalars().all()
        for pref in prefs:
            day = digest_due(now, hour=pref.digest_hour, tz=pref.timezone or get_installation(session).timezone,
                             last_sent_on=pref.last_digest_on)
            if day is None:
                continue
            user = session.get(User, pref.user_id)
            kept = session.exec(
                select(Notification, NotificationDispatch)
                .join(NotificationDispatch, NotificationDispatch.notification_id == Notification.id)
                .where(Notification.user_id == pref.user_id, NotificationDispatch.mode == "digest")
                .order_by(Notification.created_at)
            ).all()
            pref.last_digest_on = day
            if not kept or user is None:
                continue
            token = set_locale(user.locale or "zh_CN")
            try:
                subject = ngettext("Gendan: %(num)s update today", "Gendan: %(num)s updates today", len(kept))
            finally:
                reset_locale(token)
            body = "\n".join(f"- {read_title(n.title, n.title_i18n, user.locale or 'zh_CN')}"
                              + (f": {read_body(n.body, user.locale or 'zh_CN')}" if n.body else "") for n, _d in kept)
            for channel in [c for c in pref.channels if c in EXTERNAL_CHANNELS]:
                _queue_for_user(session, user, channel, key=f"digest:{user.id}:{day.isoformat()}:{channel}",
                                subject=subject, body=body, link=f"{base_url}/notifications" if base_url else None,
                                send_at=now, now=now)
            for _n, dispatch in kept:
                dispatch.mode = "digested"
            sent += 1
        session.commit()
    return sent


def _queue_for_user(session: Session, user: User, channel: str, *, key: str, subject: str, body: str,
                    link: str | None, send_at: datetime, now: datetime) -> None:
    recipient = {"email": user.email, "sms": user.phone}.get(channel, user.phone or "")
    if channel in ("email", "sms") and not recipient:
        return
    row = enqueue(session, dedupe_key=key, channel=channel, recipient=recipient or "", subject=subject, body=body,
                  payload={"locale": user.locale or "zh_CN", "link": link, "user_id": user.id}, order_id=None,
                  now=now)
    if row is not None:
        row.next_attempt_at = send_at


def _order_link(base_url: str, order_id: int | None) -> str | None:
    if not base_url:
        return None
    return f"{base_url}/orders/{order_id}" if order_id else f"{base_url}/notifications"
