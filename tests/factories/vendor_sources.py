"""Real local HTTP servers answering in vendors' documented shapes (for vendor template tests).

Each fake keeps orders with a modified time and answers only what a correct client asks for:
Kingdee refuses a query without the session cookie its login set; Taobao and JD refuse a request
whose MD5 signature does not match (engine/connectors/signing.py is the algorithm, checked here
against the app secret); Yonyou refuses a token it did not issue. `requests` records what was asked.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from engine.connectors.signing import sign_matches


class FakeVendor(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.fail_next: dict | None = None  # an error answer for the next data request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        pass

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple[int, object, dict]:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server: FakeVendor

    def log_message(self, *args):
        pass

    def _go(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        status, answer, extra = self.server.handle(method, parts.path, query, body, self.headers)
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._go("GET")

    def do_POST(self):
        self._go("POST")


# ---------------------------------------------------------------- Kingdee K/3 Cloud

class FakeKingdee(FakeVendor):
    """Bills: {"FBillNo", "FDate", "FModifyDate", "FCustId.FNumber", "FCustId.FName", "FDocumentStatus",
    "FBillAllAmount", "FSettleCurrId.FCode", "lines": [{"FMaterialId.FNumber", "FQty", "FTaxPrice"}]}."""

    ACCT, USER, PASSWORD = "6512a7f0", "gendan", "K3-pass"
    LOGIN = "/K3Cloud/Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
    QUERY = "/K3Cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"

    def __init__(self, bills: list[dict]):
        super().__init__()
        self.bills = bills
        self.sessions: set[str] = set()

    @property
    def base(self) -> str:
        return self.url + "/K3Cloud"

    def handle(self, method, path, query, body, headers):
        payload = json.loads(body or b"{}")
        with self.lock:
            self.requests.append({"path": path, "body": payload})
        if path == self.LOGIN:
            if (payload.get("acctID"), payload.get("username"), payload.get("password")) != \
                    (self.ACCT, self.USER, self.PASSWORD):
                return 200, {"LoginResultType": 0, "Message": "用户名或密码错误！", "IsSuccessByAPI": False}, {}
            sid = secrets.token_hex(8)
            self.sessions.add(sid)
            return 200, {"LoginResultType": 1, "Message": None, "KDSVCSessionId": sid, "IsSuccessByAPI": True}, \
                {"Set-Cookie": f"kdservice-sessionid={sid}; path=/"}
        if path == self.QUERY:
            cookie = headers.get("Cookie") or ""
            match = re.search(r"kdservice-sessionid=([0-9a-f]+)", cookie)
            if not match or match.group(1) not in self.sessions:
                return 200, [[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False, "MsgCode": 1,
                                                             "Errors": [{"Message": "会话信息已丢失，请重新登录"}]}}}]], {}
            if self.fail_next is not None:
                answer, self.fail_next = self.fail_next, None
                return 200, answer, {}
            return 200, self._query(payload["data"]), {}
        return 404, {"error": "not found"}, {}

    def _query(self, data: dict) -> list:
        keys = data["FieldKeys"].split(",")
        found = re.findall(r"FModifyDate ([<>]=?) '([^']+)'", data.get("FilterString") or "")
        rows = []
        for bill in sorted(self.bills, key=lambda b: (b["FModifyDate"], b["FBillNo"])):
            modified = bill["FModifyDate"].replace("T", " ")[:19]
            if not all({">": modified > v, ">=": modified >= v, "<": modified < v, "<=": modified <= v}[op]
                       for op, v in found):
                continue
            for line in bill["lines"]:
                merged = {**bill, **line}
                rows.append([merged.get(k) for k in keys])
        start, limit = int(data.get("StartRow") or 0), int(data.get("Limit") or 0) or len(rows)
        return rows[start:start + limit]
