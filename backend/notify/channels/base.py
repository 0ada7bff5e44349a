"""The channel interface: send one message to one target, or raise DeliveryError.

A channel knows its protocol only (SMTP, a robot's JSON + signature, a gateway template). It does
not retry, log or touch the database: `backend/notify/delivery.py` claims outbox rows, calls
`send`, records the attempt and schedules the retry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """The message did not get through. `retryable=False` for errors a retry cannot fix
    (a malformed address, a rejected signature); the outbox then marks the row dead at once."""

    def __init__(self, detail: str, *, retryable: bool = True):
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class Message:
    recipient: str  # e-mail address, phone number, mobile to @-mention; "" for a group robot
    subject: str
    text: str
    html: str | None = None
    locale: str = "zh_CN"
    delivery_id: str = ""  # the outbox row's dedupe key: receivers use it to drop duplicates
    data: dict[str, Any] = field(default_factory=dict)  # structured payload (generic webhook)
    # files sent with the message: (filename, content type, bytes). E-mail attaches them (those named
    # in `inline` are shown in the HTML body by cid); the WeCom robot sends an image/png one as its
    # image message; other channels ignore them
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    inline: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """Where a channel sends: a robot/webhook/gateway URL or `host:port` for SMTP."""

    kind: str
    address: str
    secret: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    kind: str

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        """Deliver or raise DeliveryError; returns a short receipt for the attempts log.

        `now_ms` (Unix milliseconds) is passed in so signatures are reproducible in tests.
        """


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """One pooled client per process: building a client (its TLS context) costs ~100 ms, a pooled
    request to a robot a few ms. httpx.Client is safe to share between threads."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        return _client


def post_json(url: str, body: dict[str, Any] | bytes, *, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST with a timeout; connection problems and 5xx/429 are retryable, other 4xx are not."""
    try:
        if isinstance(body, bytes):
            resp = http_client().post(url, content=body,
                                      headers={"Content-Type": "application/json", **(headers or {})})
        else:
            resp = http_client().post(url, json=body, headers=headers or {})
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if resp.status_code >= 500 or resp.status_code == 429:
        raise DeliveryError(f"HTTP {resp.status_code}: {resp.text[:300]}")
    if resp.status_code >= 400:
        raise DeliveryError(f"HTTP {resp.status_code}: {resp.text[:300]}", retryable=False)
    return resp


def robot_result(resp: httpx.Response, code_key: str = "errcode") -> str:
    """Chat robots answer 200 with an error code in the JSON body."""
    try:
        data = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    code = data.get(code_key, data.get("StatusCode", 0))
    if code not in (0, "0", None):
        message = data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or ""
        raise DeliveryError(f"{code_key}={code}: {message}"[:500], retryable=False)
    return f"HTTP {resp.status_code} {code_key}=0"
