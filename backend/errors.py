"""Errors with a stable machine code, translated params-based messages, and one JSON shape.

`{"error": {"code": "order.version_conflict", "message": "...", "params": {...}, "fields": {...}}}`
The code never changes with the language; the message is rendered from the code in the caller's
language (backend/i18n.py). htmx requests get the same error rendered as a toast fragment.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.i18n import register_error_messages, translate_error

log = logging.getLogger("gendan")

# code prefix or full code -> HTTP status. The engine knows no HTTP; this table does.
STATUS_BY_CODE: dict[str, int] = {
    "auth.required": 401,
    "auth.invalid_credentials": 401,
    "auth.invalid_token": 401,
    "auth.forbidden": 403,
    "auth.csrf_failed": 403,
    "auth.rate_limited": 429,
    "not_found": 404,
    "order.not_found": 404,
    "customer.not_found": 404,
    "user.not_found": 404,
    "department.not_found": 404,
    "order.version_conflict": 409,
    "order.number_taken": 409,
    "order.external_id_conflict": 409,
    "customer.code_taken": 409,
    "user.username_taken": 409,
    "auth.read_only_key": 403,
    "conflict": 409,
    "request.too_large": 413,
    "validation": 422,
}


# Codes added by the foundation's API beyond the shell's list in backend/i18n.py. English msgids;
# their Chinese is in frontend/locale/zh_CN/LC_MESSAGES/errors.po (a test holds the two complete).
register_error_messages({
    "auth.read_only_key": "This API key may only read.",
    "api_key.not_found": "API key %(id)s was not found.",
    "order.external_id_conflict": "An order from %(source)s with external id %(external_id)s already exists "
                                  "with different values (order %(id)s).",
    "order.owner_not_allowed": "You may only assign orders to yourself or your team.",
    "order.date_before_created": "The date cannot be before the order was created (%(created)s).",
    "customer.code_taken": "Customer code %(code)s is already used.",
    "customer.forbidden": "You may only change customers of your own team.",
    "customer.channel_unreachable": "The preferred channel %(channel)s needs %(needs)s.",
    "field.*": "The value is not valid.",
    "field.cursor_invalid": "This page link is no longer valid. Start again from the first page.",
    "field.date_out_of_range": "The date must be between %(earliest)s and %(latest)s.",
    "field.not_nullable": "This field cannot be empty.",
    "field.range_inverted": "The end of the range is before its start.",
    "field.dict_type": "Must be an object.",
    "field.model_type": "Must be an object.",
    "field.model_attributes_type": "Must be an object.",
    "field.list_type": "Must be a list.",
    "field.bool_type": "Must be yes or no.",
    "field.int_from_float": "Must be a whole number.",
    "field.too_long": "At most %(max_length)s items.",
    "field.date_type": "Not a valid date.",
    "field.datetime_type": "Not a valid date and time.",
    "field.finite_number": "Must be a finite number.",
    "field.decimal_whole_digits": "Too many digits before the decimal point.",
    "field.less_than": "Must be less than %(lt)s.",
})


class GendanError(Exception):
    """An expected failure: `code` is stable and untranslated, `params` fill the message.

    `fields` maps a field path to its own (code, params) for per-field messages.
    """

    def __init__(
        self,
        code: str,
        params: dict[str, Any] | None = None,
        *,
        status: int | None = None,
        fields: dict[str, tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.params = params or {}
        self.fields = fields or {}
        self.status = status or status_for(code)


def status_for(code: str) -> int:
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    if code.endswith(".not_found"):
        return 404
    if code.endswith(".forbidden"):
        return 403
    if code.endswith("conflict"):
        return 409
    return 400


def error_body(error: GendanError) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code,
            "message": translate_error(error.code, error.params),
            "params": _jsonable(error.params),
            "fields": {
                path: {"code": code, "message": translate_error(code, params), "params": _jsonable(params)}
                for path, (code, params) in error.fields.items()
            },
        }
    }


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)) for k, v in params.items()}


def _validation_to_error(exc: RequestValidationError) -> GendanError:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        path = ".".join(loc) or "_"
        kind = err.get("type", "value_error")
        ctx = {k: v if isinstance(v, (str, int, float)) else str(v) for k, v in (err.get("ctx") or {}).items()
               if k != "error"}
        fields[path] = (f"field.{kind}", {"field": path, **ctx})
    return GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)


def _wants_html(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _is_page_request(request: Request) -> bool:
    """A browser navigating to a page (not the API, not an htmx swap) gets an HTML error page."""
    return (not request.url.path.startswith("/api/") and not _wants_html(request)
            and "text/html" in request.headers.get("accept", ""))


def _render(request: Request, error: GendanError):
    body = error_body(error)
    if _is_page_request(request):
        from frontend.templating import render

        return render(request, "_error_page.html", {"error": body["error"], "status": error.status},
                      status_code=error.status)
    if _wants_html(request):
        from frontend.templating import render_toast  # frontend imports backend, not the reverse at load

        return HTMLResponse(render_toast(request, body["error"]), status_code=error.status,
                            headers={"HX-Retarget": "#toast", "HX-Reswap": "innerHTML"})
    return JSONResponse(body, status_code=error.status)


class UnhandledErrorMiddleware:
    """A bug still answers in the product's shape: logged with a reference the user can quote, and
    shown as a coded, translated error (a page with the shell, a toast, or JSON). Sits inside the
    session and locale middleware, which Starlette's outermost server-error handler does not."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            ref = uuid.uuid4().hex[:8]
            log.error("unhandled error %s on %s %s", ref, scope.get("method"), scope.get("path"), exc_info=exc)
            response = _render(Request(scope), GendanError("internal", {"ref": ref}, status=500))
            await response(scope, receive, send)


MULTIPART_PART_BYTES = 1024 * 1024  # Starlette's default max_part_size for a form field that is not a file


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GendanError)
    async def _gendan(request: Request, exc: GendanError):
        return _render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return _render(request, _validation_to_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and str(exc.detail).startswith("Part exceeded maximum size"):
            # Starlette's multipart limit for one text field, said in the library's English otherwise
            return _render(request, GendanError("request.too_large", {"limit": MULTIPART_PART_BYTES}, status=413))
        code = {404: "not_found", 405: "method_not_allowed", 401: "auth.required", 403: "auth.forbidden"}.get(
            exc.status_code, "http_error"
        )
        return _render(request, GendanError(code, {"detail": str(exc.detail)}, status=exc.status_code))
