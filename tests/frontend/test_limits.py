"""Oversized or cancelled form posts: a clear, translated refusal, and no traceback for a cancel."""

from __future__ import annotations

import asyncio
import logging

from tests.conftest import login
from tests.factories.people import make_user


class TestCancelledLiveCheck:
    def test_a_disconnect_while_reading_the_form_is_not_logged_as_an_error(self, app, client, session, caplog):
        make_user(session, username="cancel.rep", roles=["sales"], locale="en")
        session.commit()
        login(client, "cancel.rep")
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/orders/new/evaluate", "raw_path": b"/orders/new/evaluate",
                 "query_string": b"", "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
                 "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode()), (b"hx-request", b"true"),
                             (b"x-csrf-token", client.headers["X-CSRF-Token"].encode()),
                             (b"content-type", b"application/x-www-form-urlencoded")]}
        incoming = [{"type": "http.request", "body": b"customer_id=1&items.0.qty=", "more_body": True},
                    {"type": "http.disconnect"}]
        sent: list[dict] = []

        async def receive():
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        with caplog.at_level(logging.INFO):
            asyncio.run(app(scope, receive, send))
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert sent[0]["status"] == 204


class TestOversizedMultipartField:
    def test_a_field_over_the_part_limit_is_refused_in_the_users_language(self, client, session):
        make_user(session, username="big.rep", roles=["sales"], locale="zh_CN")
        session.commit()
        login(client, "big.rep")
        answer = client.post("/orders/new/upload/photo", files={"note": (None, "x" * (2 * 1024 * 1024))},
                             headers={"Accept": "application/json"})
        assert answer.status_code == 413, answer.text
        error = answer.json()["error"]
        assert error["code"] == "request.too_large" and error["params"] == {"limit": 1048576}
        assert "Part exceeded" not in error["message"] and "1048576" in error["message"]
