"""Errors with a stable machine code, translated params-based messages, and one JSON shape.

`{"error": {"code": "order.version_conflict", "message": "...", "params": {...}, "fields": {...}}}`
The code never changes with the language; the message is rendered from the code in the caller's
language (backend/i18n.py). htmx requests get the same error rendered as a toast fragment, and a
browser navigating to a page gets the page shell; the HTML is drawn by a renderer the app's
assembly installs (frontend/error_pages.py), so the backend imports no templates.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.i18n import translate_error

log = logging.getLogger("gendan")

# The one place that decides an error's HTTP status (the engine knows no HTTP; raise sites name a
# code, not a status). A key is a whole code ("order.version_conflict"), a code prefix ending in "."
# ("flow.": a domain's default) or a suffix starting with "*" ("*.not_found"). `status_for` tries
# the whole code, then the longest matching prefix, then the suffixes in this order, and otherwise
# answers 400: a request the product refuses. "internal" (a bug) is 500. 422 is for input that
# cannot be accepted as sent (a payload's shape, a definition's or a file's content).
STATUS_BY_CODE: dict[str, int] = {
    "internal": 500,
    "not_found": 404,
    "method_not_allowed": 405,
    "request.too_large": 413,
    "request.body_unreadable": 400,
    "request.value_out_of_range": 422,
    "request.database_busy": 503,
    "live.part_not_found": 404,
    "validation.": 422,
    # signing in and permissions
    "auth.required": 401,
    "auth.invalid_credentials": 401,
    "auth.invalid_token": 401,
    "auth.forbidden": 403,
    "auth.csrf_failed": 403,
    "auth.read_only_key": 403,
    "auth.rate_limited": 429,
    # orders, customers, people
    "order.number_taken": 409,
    "customer.code_taken": 409,
    "user.username_taken": 409,
    "user.cannot_deactivate_self": 422,
    "user.last_admin": 422,
    # designs: a definition that does not validate is 422; refused lifecycle steps are 409
    "form.": 422,
    "form.not_found": 404,
    "form.upload_not_found": 404,
    "form.no_draft": 409,
    "form.incompatible_change": 409,
    "calendar.": 422,
    "report.": 422,
    "report.not_found": 404,
    "report.image_not_found": 404,
    "schedule.": 422,
    "schedule.not_found": 404,
    "outbox.attachment_too_large": 413,
    "report.no_draft": 409,
    "report.conflict": 409,
    "dashboard.": 422,
    "dashboard.not_found": 404,
    "dashboard.conflict": 409,
    "dashboard.name_invalid": 422,
    "flow.": 422,
    "flow.not_found": 404,
    "flow.no_draft": 404,
    "flow.instance_not_found": 404,
    "flow.task_not_found": 404,
    "flow.not_published": 409,
    "flow.conflict": 409,
    "flow.task_closed": 409,
    "flow.task_not_active": 409,
    "flow.not_running": 409,
    "flow.already_started": 409,
    "flow.already_decided": 409,
    "flow.cannot_resubmit": 409,
    "flow.timer_stale": 409,
    "flow.auto_approval_not_found": 409,
    "flow.not_assignee": 403,
    "flow.not_initiator": 403,
    "flow.stage_held": 409,
    "pipeline.depth_exceeded": 409,
    "rule.": 422,
    "rule.not_found": 404,
    "rule.no_draft": 409,
    "rule.not_published": 409,
    "rule.confirm_required": 409,
    "rule.start_invalid": 400,
    # what-if replay (backend/replay/)
    "whatif.weeks_out_of_range": 422,
    "whatif.nothing_to_compare": 409,
    "whatif.flow_nothing_to_compare": 409,
    "whatif.flow_not_published": 409,
    "whatif.flow_too_large": 422,
    "whatif.flow_too_deep": 422,
    "whatif.too_many_runs": 429,
    "whatif.run_not_found": 404,
    "whatif.requester_gone": 409,
    "whatif.run_failed": 500,
    # to-dos
    "inbox.not_yours": 403,
    "inbox.not_initiator": 403,
    "inbox.already_closed": 409,
    "inbox.order_moved_on": 409,
    "inbox.order_closed": 409,
    "inbox.attachment_too_large": 413,
    "inbox.urge_too_soon": 429,
    # pull connectors
    "connector.": 422,
    "connector.not_found": 404,
    "connector.name_taken": 409,
    "connector.key_unavailable": 500,  # the server is misconfigured, not the request
    "vendor.": 422,  # vendor templates (backend/connectors/vendors/)
    "transform.": 422,
    "mapping.": 422,
    "mapping.version_not_found": 404,
    "mapping.import_too_large": 413,
    # foresight (issue 14)
    "foresight.": 422,
    "foresight.run_not_found": 404,
    "foresight.model_not_found": 404,
    # contract OCR
    "ocr.": 422,
    "ocr.not_found": 404,
    "ocr.file_too_large": 413,
    # imports and signed inbound deliveries
    "import.": 422,
    "import.not_found": 404,
    "import.already_started": 409,
    "import.file_too_large": 413,
    "bulk.": 422,
    "bulk.too_many": 413,
    "inbound.source_unknown": 404,
    "inbound.signature_missing": 401,
    "inbound.signature_invalid": 401,
    "inbound.timestamp_invalid": 401,
    "inbound.timestamp_stale": 401,
    "inbound.scheme_missing": 401,
    "inbound.mapping_invalid": 422,
    "inbound.no_records": 422,
    "inbound.too_many_records": 413,
    "inbound.payload_invalid": 422,
    "inbound.customer_unknown": 422,
    "inbound.message_invalid": 422,
    "inbound.order_unknown": 422,
    "inbound.source_taken": 409,
    "inbound.duplicate": 409,
    "inbound.out_of_order": 409,
    "inbound.rate_limited": 429,
    # notifications and the customer's side
    "channel.invalid_kind": 422,
    "channel.name_taken": 409,
    "outbox.already_queued": 409,
    "tracking.unknown_milestone": 422,
    # the supplier and carrier portal
    "portal.": 422,
    "portal.not_found": 404,
    "portal.rate_limited": 429,
    "portal.step_closed": 409,
    "portal.field_not_granted": 403,
    "portal.party_not_found": 404,
    "portal.link_not_found": 404,
    "portal.user_not_found": 404,
    "portal.username_taken": 409,
    "portal.link_exists": 409,
    "tracking.urge_too_soon": 429,
    "message.too_many": 429,
    "logistics.": 422,
    "logistics.source_not_found": 404,
    "logistics.unknown_number": 404,
    "logistics.name_taken": 409,
    "logistics.push_invalid": 400,
    "logistics.push_signature_invalid": 401,
    # by the code's last word
    "*.not_found": 404,
    "*_not_found": 404,
    "*.forbidden": 403,
    "*conflict": 409,
}
_PREFIXES = sorted((k for k in STATUS_BY_CODE if k.endswith(".")), key=len, reverse=True)
_SUFFIXES = [k for k in STATUS_BY_CODE if k.startswith("*")]


class HtmlErrorRenderer(Protocol):
    """Draws an error (the body's "error" object) as the page shell or, with `as_page` false, as
    the htmx toast."""

    def __call__(self, request: Request, error: dict[str, Any], status: int, *, as_page: bool) -> Response: ...


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
        """`status` is for an error that arrives with one (an HTTP exception from the framework);
        everywhere else STATUS_BY_CODE decides."""
        super().__init__(code)
        self.code = code
        self.params = params or {}
        self.fields = fields or {}
        self.status = status or status_for(code)


def status_for(code: str) -> int:
    """The HTTP status of an error code, from STATUS_BY_CODE (see there for the order)."""
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    for prefix in _PREFIXES:
        if code.startswith(prefix):
            return STATUS_BY_CODE[prefix]
    for suffix in _SUFFIXES:
        if code.endswith(suffix[1:]):
            return STATUS_BY_CODE[suffix]
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
        fields[path] = (f"field.{kind}", {"field": path, **error_params(err)})
    return GendanError("validation.failed", {"count": len(fields)}, fields=fields)


def error_params(err: Any) -> dict[str, Any]:
    """A pydantic error's context as message params (`le`, `max`, ...): the field messages name
    them, so a message without them shows its placeholder."""
    return {k: v if isinstance(v, (str, int, float)) else str(v) for k, v in (err.get("ctx") or {}).items()
            if k != "error"}


def _wants_html(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _is_page_request(request: Request) -> bool:
    """A browser navigating to a page (not the API, not an htmx swap) gets an HTML error page."""
    return (not request.url.path.startswith("/api/") and not _wants_html(request)
            and "text/html" in request.headers.get("accept", ""))


def _render(request: Request, error: GendanError) -> Response:
    body = error_body(error)
    render_html = getattr(request.app.state, "render_html_error", None) if "app" in request.scope else None
    as_page = _is_page_request(request)
    if render_html is not None and (as_page or _wants_html(request)):
        return render_html(request, body["error"], error.status, as_page=as_page)
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
            response = _render(Request(scope), GendanError("internal", {"ref": ref}))
            await response(scope, receive, send)


MULTIPART_PART_BYTES = 1024 * 1024  # Starlette's default max_part_size for a form field that is not a file


def install_error_handlers(app: FastAPI, *, render_html: HtmlErrorRenderer | None = None) -> None:
    """Answer every error in the product's shape. `render_html` (given by the app's assembly, from
    frontend/) draws the page or the htmx toast; without it every error is JSON."""
    app.state.render_html_error = render_html

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
        if exc.status_code == 400 and str(exc.detail) == "There was an error parsing the body":
            # FastAPI's words for a body its JSON parser refused (e.g. nested past its depth limit)
            return _render(request, GendanError("request.body_unreadable"))
        code = {404: "not_found", 405: "method_not_allowed", 401: "auth.required", 403: "auth.forbidden"}.get(
            exc.status_code)
        if code is None:
            return _render(request, GendanError("http_error", {"detail": str(exc.detail)}, status=exc.status_code))
        return _render(request, GendanError(code, {"detail": str(exc.detail)}))
