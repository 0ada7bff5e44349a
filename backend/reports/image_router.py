"""The signed, expiring link to a scheduled report's chart image (backend/reports/images.py).

Public on purpose: DingTalk and Feishu fetch the image without a Gendan sign-in. The signature
is the access check; anything but a valid, unexpired one is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.reports import images

router = APIRouter(include_in_schema=False)


@router.get("/reports/images/{attachment_id}.png")
def report_image(request: Request, session: DbSession, attachment_id: int, e: str = "", s: str = "") -> Response:
    content = images.linked_image(session, secret=request.app.state.settings.secret_key, attachment_id=attachment_id,
                                  expires=e[:20], sig=s[:80], now=utcnow())
    return Response(content, media_type=images.PNG,
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})
