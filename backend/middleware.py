"""Pure ASGI middleware: the request's language, and a cap on request bodies."""

from __future__ import annotations

import json
import re

from backend import i18n


class LocaleMiddleware:
    """Session choice (user setting copied at sign-in, or the switcher), else Accept-Language."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        chosen = None
        session = scope.get("session") or {}
        chosen = i18n.normalize(session.get("lang"))
        if chosen is None:
            headers = dict(scope.get("headers") or [])
            query = scope.get("query_string", b"").decode()
            for part in query.split("&"):
                if part.startswith("lang="):
                    chosen = i18n.normalize(part[5:])
            if chosen is None:
                chosen = i18n.pick_from_accept_language(headers.get(b"accept-language", b"").decode())
        scope.setdefault("state", {})["locale"] = chosen or i18n.DEFAULT_LOCALE
        token = i18n.set_locale(chosen or i18n.DEFAULT_LOCALE)
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.reset_locale(token)


# The routes that take files: only a multipart POST to one of them may send up to
# `upload_max_bytes`. A content type alone raised the limit for any route (issue 18: the
# unauthenticated webhook took 19 MB).
UPLOAD_PATHS = (
    r"/api/v1/imports",
    r"/imports",
    r"/api/v1/forms/import",
    r"/api/v1/forms/files",
    r"/orders/new/upload/[^/]+",
    r"/inbox/items/\d+/comments",
    r"/api/v1/ocr/contracts",
    r"/orders/new/from-contract",
)

# bodies of any content type that may be as large as an upload (a JSON array or NDJSON stream)
BULK_PATHS = (r"/api/v1/orders/bulk",)


class BodySizeLimitMiddleware:
    """Refuse bodies over `max_bytes` (413) before they reach a handler; uploads have their own limit."""

    def __init__(self, app, max_bytes: int, upload_max_bytes: int = 20_000_000,
                 upload_paths: tuple[str, ...] = UPLOAD_PATHS):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_path = re.compile("|".join(f"(?:{p})" for p in upload_paths))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        is_upload = (headers.get(b"content-type", b"").startswith(b"multipart/form-data")
                     and scope.get("method") == "POST" and self.upload_path.fullmatch(scope.get("path", "")) is not None)
        is_upload = is_upload or (scope.get("method") == "POST" and scope.get("path", "") in BULK_PATHS)
        limit = self.upload_max_bytes if is_upload else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit)
        seen = 0
        exceeded = False
        started = False

        async def counting_receive():
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            # FastAPI turns an error while reading the body into its own 400; once the limit is
            # exceeded, whatever the app answers is replaced by our 413
            nonlocal started
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if exceeded and not started:
            await _too_large(send, limit)


class _TooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"error": {"code": "request.too_large",
                                 "message": i18n.translate_error("request.too_large", {"limit": limit}),
                                 "params": {"limit": limit}, "fields": {}}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# Scripts come from this server's files only: no inline script, no inline handler (onclick=...), no
# eval (htmx runs with allowEval off; templates ask for behaviour with data-* attributes that
# frontend/static/js/page.js acts on), so text that slipped past escaping still cannot run. Styles
# keep 'unsafe-inline' (style attributes; a style cannot run code). The policy also stops frames,
# objects, fonts and images from other hosts, <base> hijacking, forms posting elsewhere, and
# connections (fetch, websocket) to any host but this one, so an injected script could not send data away.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'; connect-src 'self' {ws}")
# The form designer frames its own live preview (desktop and phone); nothing else may be framed, and
# that page only by this server's pages.
FRAMEABLE = re.compile(r"^/designer/forms/[^/]+/preview$")
# FastAPI's interactive API docs load Swagger UI / ReDoc from a CDN: no CSP there (no user data shown)
CSP_EXEMPT_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """Security headers on every response; a handler's own value (a download's sandbox) wins."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        framed = FRAMEABLE.match(scope["path"]) is not None
        extra = [(b"x-frame-options", b"SAMEORIGIN" if framed else b"DENY"), (b"x-content-type-options", b"nosniff"),
                 (b"referrer-policy", b"same-origin")]
        if not scope["path"].startswith(CSP_EXEMPT_PATHS):
            ws = f"ws://{host} wss://{host}" if host and "'" not in host and ";" not in host else ""
            policy = CSP.format(ws=ws).strip()
            if framed:
                policy = policy.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
            extra.append((b"content-security-policy", policy.encode("latin-1")))

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *[(n, v) for n, v in extra if n not in present]]
            await send(message)

        await self.app(scope, receive, with_headers)
