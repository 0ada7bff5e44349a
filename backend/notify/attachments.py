"""Files sent with an outbox e-mail, stored with the message (a retry sends the same bytes)."""

from __future__ import annotations

from sqlmodel import Session

from backend.errors import GendanError
from backend.notify.models import OutboxAttachment, OutboxMessage

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


def attach(session: Session, row: OutboxMessage, *, filename: str, content_type: str, content: bytes) -> None:
    """Store a file with a queued e-mail (the row must be flushed or flushable). At most 5 MB in all."""
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise GendanError("outbox.attachment_too_large", {"limit": MAX_ATTACHMENT_BYTES}, status=413)
    session.flush()
    session.add(OutboxAttachment(message_id=row.id, filename=filename[:200], content_type=content_type[:120],
                                 content=content))
    row.payload = {**(row.payload or {}), "attachments": 1}
