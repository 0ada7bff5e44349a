"""Outbound channels, one real protocol each; `get_channel(kind)` picks the implementation."""

from __future__ import annotations

from backend.notify.channels.base import Channel, DeliveryError, Message, Target


def get_channel(kind: str) -> Channel:
    from backend.notify.channels import dingtalk, email, fake, feishu, sms, webhook, wecom

    channels: dict[str, Channel] = {
        "email": email.EmailChannel(), "dingtalk": dingtalk.DingTalkChannel(), "wecom": wecom.WeComChannel(),
        "feishu": feishu.FeishuChannel(), "webhook": webhook.WebhookChannel(), "sms": sms.SmsChannel(),
        "fake": fake.FakeChannel(),
    }
    if kind not in channels:
        raise DeliveryError(f"unknown channel {kind!r}", retryable=False)
    return channels[kind]


KINDS = ("email", "dingtalk", "wecom", "feishu", "webhook", "sms")
__all__ = ["Channel", "DeliveryError", "KINDS", "Message", "Target", "get_channel"]
