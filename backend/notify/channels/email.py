"""E-mail over SMTP: multipart text + HTML, optional STARTTLS and login.

Target: `address` is `host:port`; options `from`, `starttls` (bool), `username`; `secret` is the
SMTP password. Temporary SMTP answers (4xx) and connection errors are retried; a permanent refusal
of the recipient (5xx) is not.
"""

from __future__ import annotations

import hashlib
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from backend.notify.channels.base import TIMEOUT_SECONDS, DeliveryError, Message, Target
from backend.notify.render import email_bodies


def build(message: Message, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.subject.split())  # a line break in a header is an injection
    mail["From"] = sender
    mail["To"] = " ".join(message.recipient.split())
    domain = sender.rsplit("@", 1)[-1].strip(">") or "gendan.local"
    if message.delivery_id:
        # the same Message-ID on every attempt of one outbox row, so a mail server or client that
        # got a retry after a crash between "accepted" and our commit can drop the copy
        digest = hashlib.sha256(message.delivery_id.encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}.gendan@{domain}>"
        mail["X-Gendan-Delivery"] = message.delivery_id
    else:
        mail["Message-ID"] = make_msgid(domain=domain)
    inline = [a for a in message.attachments if a[0] in message.inline and a[1].startswith("image/")]
    # content ids derived from the delivery, so every attempt of one outbox row is the same message
    seed = message.delivery_id or mail["Message-ID"]
    cids = [f"{hashlib.sha256(f'{seed}/{name}'.encode()).hexdigest()[:24]}@{domain}" for name, _, _ in inline]
    text, html = email_bodies(message.subject, message.text, locale=message.locale,
                              link=message.data.get("link"), html=message.html, images=cids)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    html_part = mail.get_payload()[1]
    for (filename, content_type, content), cid in zip(inline, cids, strict=True):
        maintype, _, subtype = content_type.partition("/")
        html_part.add_related(content, maintype=maintype, subtype=subtype, cid=f"<{cid}>", filename=filename,
                              disposition="inline")
    for filename, content_type, content in message.attachments:
        if filename in message.inline and content_type.startswith("image/"):
            continue
        maintype, _, subtype = content_type.partition("/")
        mail.add_attachment(content, maintype=maintype or "application", subtype=subtype or "octet-stream",
                            filename=filename)
    return mail


class EmailChannel:
    kind = "email"

    def send(self, message: Message, target: Target, *, now_ms: int) -> str:
        if "@" not in message.recipient:
            raise DeliveryError(f"not an e-mail address: {message.recipient!r}", retryable=False)
        host, _, port = target.address.rpartition(":")
        if not host:
            host, port = target.address, "25"
        sender = target.options.get("from") or "gendan@localhost"
        mail = build(message, sender)
        try:
            with smtplib.SMTP(host, int(port), timeout=TIMEOUT_SECONDS) as smtp:
                if target.options.get("starttls"):
                    smtp.starttls()
                if target.options.get("username"):
                    smtp.login(target.options["username"], target.secret or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500],
                                retryable=exc.smtp_code < 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(f"recipient refused: {refused}", retryable=False)
        return f"SMTP accepted {mail['Message-ID']}"
