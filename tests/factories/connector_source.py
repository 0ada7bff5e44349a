"""A real local HTTP JSON source for connector tests (a thread running http.server).

Endpoints: POST /token (OAuth2 client credentials: client `cid`, secret `s3cret`), GET
/orders/link?page=N (pages by next link), GET /orders/cursor?cursor=T (pages by cursor), GET
/flaky (500 `fail_times` times, then the records),
/limited (429 Too Many Requests `fail_times` times, then the records),
/changing (the records under `items`, or under `result.list` once `renamed` is set: a changed schema), /down (always 500), /slow?seconds=S, /huge, /deep, /html.
Set `require_oauth` to refuse /orders/* without a token it issued, `require_header` (name, value) to
refuse them without that header; `client_secret` is the secret /token accepts.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

from tests.factories.http_server import LocalServer, QuietHandler

CLIENT_ID, CLIENT_SECRET = "cid", "s3cret"


class Source(LocalServer):
    def __init__(self, records: list[dict], *, page_size: int = 2):
        super().__init__(_Handler)
        self.records, self.page_size = records, page_size
        self.require_oauth = False
        self.require_header: tuple[str, str] | None = None
        self.client_secret = CLIENT_SECRET
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.fail_times = 0
        self.renamed = False
        self.requests: list[str] = []
        self.lock = threading.Lock()


class _Handler(QuietHandler):
    server: Source

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if urlsplit(self.path).path != "/token":
            return self._json({"error": "not found"}, 404)
        with self.server.lock:
            self.server.token_requests += 1
            n = self.server.token_requests
        if form.get("grant_type") != ["client_credentials"] or form.get("client_id") != [CLIENT_ID] \
                or form.get("client_secret") != [self.server.client_secret]:
            return self._json({"error": "invalid_client"}, 401)
        token = f"tok-{n}"
        self.server.tokens.add(token)
        return self._json({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        source = self.server
        with source.lock:
            source.requests.append(self.path)
        if parts.path.startswith("/orders") and source.require_oauth:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in source.tokens:
                return self._json({"error": "unauthorized"}, 401)
        if parts.path.startswith("/orders") and source.require_header is not None:
            name, value = source.require_header
            if self.headers.get(name) != value:
                return self._json({"error": "unauthorized"}, 401)
        size = source.page_size
        if parts.path == "/orders/link":
            page = int(query.get("page", "1"))
            items = source.records[(page - 1) * size: page * size]
            more = page * size < len(source.records)
            return self._json({"data": {"items": items},
                               "links": {"next": f"/orders/link?page={page + 1}" if more else None}})
        if parts.path == "/orders/cursor":
            start = int(query.get("cursor") or 0)
            items = source.records[start: start + size]
            more = start + size < len(source.records)
            return self._json({"items": items, "next_cursor": str(start + size) if more else ""})
        if parts.path == "/flaky":
            with source.lock:
                failing = source.fail_times > 0
                source.fail_times -= 1
            if failing:
                return self._json({"error": "busy"}, 500)
            return self._json({"items": source.records})
        if parts.path == "/limited":
            with source.lock:
                limited = source.fail_times > 0
                source.fail_times -= 1
            if limited:
                return self._json({"error": "rate limit exceeded"}, 429)
            return self._json({"items": source.records})
        if parts.path == "/changing":
            return self._json({"result": {"list": source.records}} if source.renamed else {"items": source.records})
        if parts.path == "/slow":
            time.sleep(float(query.get("seconds", "1")))
            return self._json({"items": []})
        if parts.path == "/down":
            return self._json({"error": "down"}, 500)
        if parts.path == "/huge":
            return self._json({"items": [{"id": str(i), "pad": "x" * 1000} for i in range(3000)]})
        if parts.path == "/deep":
            return self._send(200, b"[" * 5000 + b"]" * 5000)
        if parts.path == "/html":
            return self._send(200, b"<html><body>Login</body></html>", "text/html")
        return self._json({"error": "not found"}, 404)
