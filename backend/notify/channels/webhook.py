"""Generic webhook: the JSON body signed with HMAC-SHA256 in a header.

Headers: `X-Gendan-Timestamp: <unix ms>`, `X-Gendan-Delivery: <outbox dedupe key>` (drop
duplicates with it), `X-Gendan-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`.
The timestamp is inside the signed text so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from backend.notify.channels.base import Message, Target, post_json

SIGNATURE_HEADER = "X-Gendan-Signature"


def signature(secret: str, timestamp_ms: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


class WebhookChannel:
    kind = "webhook"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        payload = message.data or {"subject": message.subject, "text": message.text}
        body = json.dumps({"delivery_id": message.delivery_id, "data": payload}, ensure_ascii=False,
                          separators=(",", ":"), sort_keys=True).encode()
        headers = {"X-Gendan-Timestamp": str(now_ms), "X-Gendan-Delivery": message.delivery_id,
                   **{str(k): str(v) for k, v in (target.options.get("headers") or {}).items()}}
        if target.secret:
            headers[SIGNATURE_HEADER] = signature(target.secret, now_ms, body)
        resp = post_json(target.address, body, headers=headers)
        return f"HTTP {resp.status_code}"
