"""WeCom (企业微信) group robot: markdown message to the robot's webhook URL (the key is in the URL)."""

from __future__ import annotations

from backend.notify.channels.base import Message, Target, post_json, robot_result


class WeComChannel:
    kind = "wecom"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        content = f"**{message.subject}**\n{message.text}" if message.subject else message.text
        body: dict = {"msgtype": "markdown", "markdown": {"content": content[:4096]}}
        if message.recipient and message.recipient.lstrip("+").isdigit():
            # markdown cannot @ by mobile; a text message can
            body = {"msgtype": "text", "text": {"content": content[:2048],
                                                "mentioned_mobile_list": [message.recipient]}}
        return robot_result(post_json(target.address, body))
