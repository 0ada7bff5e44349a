"""A real local HTTP server in Kuaidi100's shape (快递100 实时查询 `poll/query.do`), for logistics tests.

POST /poll/query.do with form `customer`, `param` (JSON com/num) and `sign` = upper MD5(param +
key + customer). A wrong sign answers `returnCode` 503 (what the aggregator says for a wrong key), an
unknown number 500 "查询无结果". `feeds[number] = (state, [(time, context, status), ...])` sets what a
number answers; `push_form(...)` builds the subscription push the aggregator sends back.
POST /html answers an HTML page (a misconfigured address: a login page, a proxy's error page).
"""

from __future__ import annotations

import hashlib
import json
import threading
from urllib.parse import parse_qs

from tests.factories.http_server import LocalServer, QuietHandler

CUSTOMER, KEY, SALT = "CUST-LOG", "k3y-LOG", "s4lt-LOG"


def md5u(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324


def last_result(number: str, state: str, events: list[tuple[str, str, str]], com: str = "shunfeng") -> dict:
    return {"message": "ok", "nu": number, "ischeck": "1" if state == "3" else "0", "com": com, "status": "200",
            "condition": "F00", "state": state,
            "data": [{"time": t, "ftime": t, "context": c, "status": s, "location": ""} for t, c, s in events]}


def push_form(number: str, state: str, events: list[tuple[str, str, str]], *, salt: str = SALT) -> dict[str, str]:
    param = json.dumps({"status": "polling", "billstatus": "got", "message": "",
                        "lastResult": last_result(number, state, events)}, ensure_ascii=False)
    return {"param": param, "sign": md5u(param + salt)}


class TrackingServer(LocalServer):
    def __init__(self):
        super().__init__(_Handler)
        self.feeds: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
        self.queries: list[dict] = []
        self.lock = threading.Lock()


class _Handler(QuietHandler):
    server: TrackingServer
    content_type = "application/json;charset=UTF-8"

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self.path.startswith("/html"):
            self._send(200, b"<!doctype html><html><body>Login</body></html>", "text/html; charset=utf-8")
            return
        if not self.path.startswith("/poll/query.do"):
            self._send(404, b"{}")
            return
        with self.server.lock:
            self.server.queries.append(form)
        param = form.get("param", "")
        if form.get("customer") != CUSTOMER or form.get("sign") != md5u(param + KEY + CUSTOMER):
            self._json({"result": False, "returnCode": "503", "message": "验证签名失败"})
            return
        number = json.loads(param).get("num", "")
        if number not in self.server.feeds:
            self._json({"result": False, "returnCode": "500", "message": "查询无结果，请隔段时间再查"})
            return
        state, events = self.server.feeds[number]
        self._json(last_result(number, state, events))
