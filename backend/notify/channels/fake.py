"""A channel that keeps messages in memory: for tests and for trying Gendan without servers."""

from __future__ import annotations

from backend.notify.channels.base import DeliveryError, Message, Target

SENT: list[tuple[Message, Target]] = []


class FakeChannel:
    kind = "fake"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        if target.options.get("fail"):
            raise DeliveryError(str(target.options["fail"]))
        SENT.append((message, target))
        return f"kept #{len(SENT)}"
