"""DingTalk custom robot: markdown message, signed with the robot's secret (加签).

A message with `data["image_url"]` (a scheduled report's chart: a signed, expiring link served by
Gendan, since the robot cannot take bytes) shows the image in the markdown: `![title](url)`.

Signature (DingTalk docs): sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")),
sent as `&timestamp=<ms>&sign=<urlencoded>` on the webhook URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

from backend.notify.channels.base import Message, Target, post_json, robot_result


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel:
    kind = "dingtalk"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        url = target.address
        if target.secret:
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={now_ms}&sign={quote_plus(sign(target.secret, now_ms))}"
        at_mobiles = [message.recipient] if message.recipient and message.recipient.lstrip("+").isdigit() else []
        text = f"### {message.subject}\n\n{message.text}" if message.subject else message.text
        if message.data.get("image_url"):
            head = f"### {message.subject}\n\n" if message.subject else ""
            text = f"{head}![{message.subject or 'chart'}]({message.data['image_url']})\n\n{message.text}"
        if at_mobiles:
            text += "\n\n" + " ".join(f"@{m}" for m in at_mobiles)
        body = {"msgtype": "markdown", "markdown": {"title": message.subject or message.text[:30], "text": text},
                "at": {"atMobiles": at_mobiles, "isAtAll": False}}
        return robot_result(post_json(url, body))
