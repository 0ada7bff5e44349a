"""Feishu (飞书) custom robot: text message, signed when the robot has a secret.

A message with `data["image_url"]` (a scheduled report's chart) is a `post` (rich text) message: the
title, the text, and a link to the image. A custom robot cannot send an image itself: Feishu's
image message needs an `image_key` from the upload API, which takes an app's tenant access token
that a group robot's webhook does not have; so the link is a signed, expiring one served by Gendan.

Signature (Feishu docs): sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")),
`timestamp` in seconds, both sent in the JSON body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from backend.notify.channels.base import Message, Target, post_json, robot_result


def sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuChannel:
    kind = "feishu"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        text = f"{message.subject}\n{message.text}" if message.subject else message.text
        body: dict = {"msg_type": "text", "content": {"text": text}}
        if message.data.get("image_url"):
            lines = [[{"tag": "text", "text": line}] for line in message.text.split("\n") if line.strip()]
            link = [{"tag": "a", "text": message.data.get("image_label") or "📊 " + (message.subject or "chart"),
                     "href": message.data["image_url"]}]
            lang = "en_us" if message.locale == "en" else "zh_cn"
            body = {"msg_type": "post", "content": {"post": {lang: {"title": message.subject,
                                                                      "content": [link, *lines]}}}}
        if target.secret:
            ts = now_ms // 1000
            body = {"timestamp": str(ts), "sign": sign(target.secret, ts), **body}
        return robot_result(post_json(target.address, body), code_key="code")
