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
from urllib.parse import parse_qs, urlsplit

from engine.connectors.signing import sign_matches
from tests.factories.http_server import LocalServer, QuietHandler


class FakeVendor(LocalServer):
    def __init__(self):
        super().__init__(_Handler)
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.fail_next: dict | None = None  # an error answer for the next data request

    def handle(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple[int, object, dict]:
        raise NotImplementedError


class _Handler(QuietHandler):
    server: FakeVendor
    content_type = "application/json; charset=utf-8"

    def _go(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        status, answer, extra = self.server.handle(method, parts.path, query, body, self.headers)
        self._json(answer, status, extra)

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
        self.expire_sessions_after: int | None = None  # drop every session once this many requests were made

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
            if self.expire_sessions_after is not None and len(self.requests) > self.expire_sessions_after:
                self.sessions.clear()  # the server restarted or the session timed out
                self.expire_sessions_after = None
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


def _form(body: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


# ---------------------------------------------------------------- Taobao / Tmall TOP

class FakeTaobao(FakeVendor):
    """Trades: {"tid", "status", "payment", "buyer_nick", "created", "modified", "orders": {"order": [...]}}.
    Refuses a wrong signature (code 25), app key (29) or session (27); newest modified first."""

    APP_KEY, SECRET, SESSION = "12345678", "top-secret-0123", "6100a1b2c3session"

    def __init__(self, trades: list[dict]):
        super().__init__()
        self.trades = trades

    def handle(self, method, path, query, body, headers):
        form = {**query, **_form(body)}
        with self.lock:
            self.requests.append(form)
        if not sign_matches(form, self.SECRET):
            return 200, {"error_response": {"code": 25, "msg": "Invalid signature", "request_id": "r1"}}, {}
        if form.get("app_key") != self.APP_KEY:
            return 200, {"error_response": {"code": 29, "msg": "Invalid app Key", "request_id": "r2"}}, {}
        if form.get("session") != self.SESSION:
            return 200, {"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey",
                                            "request_id": "r3"}}, {}
        if form.get("method") != "taobao.trades.sold.increment.get" or form.get("sign_method") != "md5":
            return 200, {"error_response": {"code": 22, "msg": "Invalid method"}}, {}
        if self.fail_next is not None:
            answer, self.fail_next = self.fail_next, None
            return 200, answer, {}
        start, end = form["start_modified"], form["end_modified"]
        if end < start or (end[:10] != start[:10] and end[11:] > start[11:]):
            return 200, {"error_response": {"code": 15, "msg": "Remote service error",
                                            "sub_code": "isv.invalid-parameter", "sub_msg": "时间跨度不能超过一天"}}, {}
        found = sorted((t for t in self.trades if start <= t["modified"] <= end), key=lambda t: t["modified"],
                       reverse=True)
        size, page = int(form.get("page_size") or 40), int(form.get("page_no") or 1)
        chunk = found[(page - 1) * size: page * size]
        answer = {"trades": {"trade": chunk}, "request_id": "r0"}
        if form.get("use_has_next") == "true":
            answer["has_next"] = page * size < len(found)
        else:
            answer["total_results"] = len(found)
        return 200, {"trades_sold_increment_get_response": answer}, {}


# ---------------------------------------------------------------- JD JOS

class FakeJD(FakeVendor):
    """Orders: {"orderId", "orderState", "orderPayment", "modified", "orderStartTime", "pin", "itemInfoList"}."""

    APP_KEY, SECRET, TOKEN = "JDAPPKEY01", "jd-secret-abcdef", "jd-access-token-1"

    def __init__(self, orders: list[dict]):
        super().__init__()
        self.orders = orders

    def handle(self, method, path, query, body, headers):
        form = {**query, **_form(body)}
        with self.lock:
            self.requests.append(form)
        if not sign_matches(form, self.SECRET):
            return 200, {"error_response": {"code": "14", "zh_desc": "签名无效", "en_desc": "Invalid sign"}}, {}
        if form.get("app_key") != self.APP_KEY:
            return 200, {"error_response": {"code": "15", "zh_desc": "无效的app_key", "en_desc": "Invalid app_key"}}, {}
        if form.get("access_token") != self.TOKEN:
            return 200, {"error_response": {"code": "19", "zh_desc": "token已过期或者不存在，请重新授权访问",
                                            "en_desc": "Invalid access_token"}}, {}
        if self.fail_next is not None:
            answer, self.fail_next = self.fail_next, None
            return 200, answer, {}
        params = json.loads(form["360buy_param_json"])
        states = set(params["order_state"].split(","))
        found = sorted((o for o in self.orders if params["start_date"] <= o["modified"] <= params["end_date"]
                        and o["orderState"] in states), key=lambda o: (o["modified"], o["orderId"]))
        size, page = int(params.get("page_size") or 20), int(params.get("page") or 1)
        return 200, {"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
            "apiResult": {"success": True, "numberCode": 0, "chineseErrCode": "成功", "englishErrCode": "success"},
            "orderInfoList": found[(page - 1) * size: page * size], "orderTotal": len(found)}}}, {}


# ---------------------------------------------------------------- Yonyou U8+ OpenAPI

class FakeYonyou(FakeVendor):
    """Sale orders: {"code", "date", "custcode", "cusname", "state", "modified", "entry": [...]}; the list
    filters on timestamp_begin/timestamp_end (the order's `modified`)."""

    FROM, TO, APP_KEY, SECRET = "gendan_dev", "acme_corp", "opa0123456789", "u8-secret-xyz"

    def __init__(self, orders: list[dict]):
        super().__init__()
        self.orders = orders
        self.tokens: set[str] = set()

    def handle(self, method, path, query, body, headers):
        with self.lock:
            self.requests.append({"path": path, **query})
        if path == "/system/token":
            if (query.get("from_account"), query.get("app_key"), query.get("app_secret")) != \
                    (self.FROM, self.APP_KEY, self.SECRET):
                return 200, {"errcode": "30002", "errmsg": "app_secret 不正确"}, {}
            token = secrets.token_hex(8)
            self.tokens.add(token)
            return 200, {"errcode": "0", "errmsg": "", "token": {"id": token, "expiresIn": 7200}}, {}
        if query.get("token") not in self.tokens or query.get("to_account") != self.TO:
            return 200, {"errcode": "40001", "errmsg": "token 无效"}, {}
        if self.fail_next is not None:
            answer, self.fail_next = self.fail_next, None
            return 200, answer, {}
        if path == "/api/saleorderlist/batch_get":
            begin, end = query.get("timestamp_begin") or "", query.get("timestamp_end") or "9999"
            found = sorted((o for o in self.orders if begin < o["modified"] <= end), key=lambda o: o["code"])
            size, page = int(query.get("rows_per_page") or 20), int(query.get("page_index") or 1)
            chunk = [{k: v for k, v in o.items() if k != "entry"} for o in found[(page - 1) * size: page * size]]
            return 200, {"errcode": "0", "errmsg": "", "page_index": str(page), "rows_per_page": str(size),
                         "row_count": str(len(found)), "page_count": str(-(-len(found) // size)),
                         "saleorderlist": chunk}, {}
        if path == "/api/saleorder/get":
            for o in self.orders:
                if o["code"] == query.get("id"):
                    return 200, {"errcode": "0", "errmsg": "", "saleorder": o}, {}
            return 200, {"errcode": "50001", "errmsg": "单据不存在"}, {}
        return 404, {"errcode": "404", "errmsg": "not found"}, {}
