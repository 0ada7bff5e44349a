"""Real servers on loopback for channel tests: an SMTP server (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from tests.factories.http_server import LocalServer, QuietHandler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collector:
    def __init__(self, delay: float = 0.0):
        self.messages = []
        self.delay = delay  # a slow server: seconds before each message is accepted

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a fixed port, so it can be stopped and started again on the same address."""

    def __init__(self, port: int, delay: float = 0.0):
        self.port = port
        self.handler = _Collector(delay)
        self.controller: Controller | None = None

    @property
    def messages(self):
        return self.handler.messages

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every POST and answers with `reply` (JSON) and `status`."""

    reply: dict = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    on_request: Callable[[], None] | None = None  # runs while the sender waits for the answer

    def __post_init__(self):
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                if receiver.on_request is not None:
                    receiver.on_request()
                self._send(receiver.status, json.dumps(receiver.reply).encode())

        self.server = LocalServer(Handler).start()
        self.url = self.server.url

    def close(self):
        self.server.stop()
