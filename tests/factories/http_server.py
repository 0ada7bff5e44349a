"""A local HTTP server for tests: a free port on 127.0.0.1, served from a daemon thread.

The fake sources (connector_source.py, vendor_sources.py, tracking_source.py, the connector kill
test's pages, the notification receivers) subclass `LocalServer` for their state and
`QuietHandler` for their answers, and share the start/stop and JSON-answer plumbing here.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout tests, a killed child) leaves a broken pipe behind: not news

    def start(self) -> Self:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing and answers bytes or JSON."""

    content_type = "application/json"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, content_type: str | None = None, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or self.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode(), headers=headers)
