"""The push endpoint tracking aggregators call (no login: the aggregator's signature is checked)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.logistics import push

router = APIRouter(prefix="/api/v1", tags=["logistics"])


@router.post("/tracking-push/{key}", responses={
    400: {"description": "Malformed push"}, 401: {"description": "Signature invalid"},
    404: {"description": "Unknown source or tracking number"}})
async def tracking_push(request: Request, session: DbSession, key: str):
    """Kuaidi100-shaped subscription push: form `param` + `sign` = upper MD5(param + salt). Answers
    `{"result": true, "returnCode": "200", "message": "成功"}`, or `result: false` with a 4xx and
    the reason in the caller's language."""
    body = await request.body()
    try:
        result = await run_in_threadpool(push.receive, session, key=key, body=body,
                                         content_type=request.headers.get("content-type", ""), now=utcnow())
    except GendanError as exc:
        message = i18n.translate_error(exc.code, exc.params)
        return JSONResponse({"result": False, "returnCode": str(exc.status), "message": message, "code": exc.code},
                            status_code=exc.status)
    return JSONResponse(result)
