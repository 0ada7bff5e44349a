"""SMS through an HTTP gateway described by a template (every vendor has its own JSON).

Options: `body_template` (JSON text with `$phone`, `$text`, `$subject` placeholders, values are
JSON-escaped), `api_key_header` (header that carries `secret`, default `Authorization: Bearer`),
`ok_field` / `ok_value` (a field of the JSON answer that must equal a value, optional).
"""

from __future__ import annotations

import json
from string import Template

from backend.notify.channels.base import DeliveryError, Message, Target, post_json

DEFAULT_TEMPLATE = '{"to": $phone, "text": $text}'


def render_body(template: str, message: Message) -> bytes:
    values = {"phone": json.dumps(message.recipient), "text": json.dumps(message.text, ensure_ascii=False),
              "subject": json.dumps(message.subject, ensure_ascii=False)}
    try:
        rendered = Template(template).substitute(values)
        json.loads(rendered)
    except (KeyError, ValueError) as exc:
        raise DeliveryError(f"SMS body template is not valid: {exc}", retryable=False) from exc
    return rendered.encode()


class SmsChannel:
    kind = "sms"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        if not message.recipient:
            raise DeliveryError("no phone number", retryable=False)
        body = render_body(target.options.get("body_template") or DEFAULT_TEMPLATE, message)
        headers = {}
        if target.secret:
            header = target.options.get("api_key_header") or "Authorization"
            headers[header] = f"Bearer {target.secret}" if header == "Authorization" else target.secret
        resp = post_json(target.address, body, headers=headers)
        ok_field = target.options.get("ok_field")
        if ok_field:
            try:
                value = resp.json().get(ok_field)
            except ValueError:
                value = None
            if str(value) != str(target.options.get("ok_value", "0")):
                raise DeliveryError(f"gateway answered {ok_field}={value}: {resp.text[:200]}", retryable=False)
        return f"HTTP {resp.status_code}"
