"""WeCom (企业微信) group robot: markdown message to the robot's webhook URL (the key is in the URL).

A message carrying an image/png attachment (a scheduled report's chart) is sent as the robot's
image message instead: `{"msgtype": "image", "image": {"base64": …, "md5": …}}`, the md5 of the
raw bytes, at most 2 MB before encoding (WeCom's documented limit; larger is refused for good).
"""

from __future__ import annotations

import base64
import hashlib

from backend.notify.channels.base import DeliveryError, Message, Target, post_json, robot_result

IMAGE_LIMIT = 2 * 1024 * 1024


def image_body(content: bytes) -> dict:
    if len(content) > IMAGE_LIMIT:
        raise DeliveryError(f"image of {len(content)} bytes is over WeCom's 2 MB limit", retryable=False)
    return {"msgtype": "image", "image": {"base64": base64.b64encode(content).decode(),
                                          "md5": hashlib.md5(content).hexdigest()}}  # noqa: S324 (WeCom's checksum)


class WeComChannel:
    kind = "wecom"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        image = next((content for _, ctype, content in message.attachments if ctype == "image/png"), None)
        if image is not None:
            return robot_result(post_json(target.address, image_body(image)))
        content = f"**{message.subject}**\n{message.text}" if message.subject else message.text
        body: dict = {"msgtype": "markdown", "markdown": {"content": content[:4096]}}
        if message.recipient and message.recipient.lstrip("+").isdigit():
            # markdown cannot @ by mobile; a text message can
            body = {"msgtype": "text", "text": {"content": content[:2048],
                                                "mentioned_mobile_list": [message.recipient]}}
        return robot_result(post_json(target.address, body))
