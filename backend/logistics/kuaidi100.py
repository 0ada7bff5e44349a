"""The Kuaidi100 (快递100) shape: the real-time query API (`poll/query.do`) and the subscription
push it calls back with. Pure functions around one bounded HTTP call.

Query: POST form `customer`, `param` (JSON: com, num, resultv2) and `sign` = upper MD5(param +
key + customer). Push: form `param` (JSON: status, lastResult{state, data[{time, context, ftime,
status}]}) and `sign` = upper MD5(param + salt). Anything else the source answers (HTML, an error
object, a huge or deeply nested body) becomes a GendanError the health page shows translated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from backend.errors import GendanError

DEFAULT_URL = "https://poll.kuaidi100.com/poll/query.do"
MAX_RESPONSE_BYTES = 1_000_000
MAX_EVENTS = 500
TIMEOUT_SECONDS = 10.0
CHINA = timezone(timedelta(hours=8))  # the feed's times are Beijing time without an offset

# the feed's shipment state (`state`) -> ours
STATE_CODES = {"0": "in_transit", "1": "in_transit", "5": "out_for_delivery", "3": "signed", "2": "exception",
               "4": "exception", "6": "exception", "7": "in_transit", "8": "in_transit", "10": "in_transit",
               "14": "exception"}
# an event's own status word (resultv2) -> ours; the first word found wins
_WORDS = (("拒签", "exception"), ("退签", "exception"), ("退回", "exception"), ("疑难", "exception"),
          ("签收", "signed"), ("派件", "out_for_delivery"), ("派送", "out_for_delivery"))
# the query API's error codes -> ours
RETURN_CODES = {"503": "logistics.bad_credentials", "601": "logistics.bad_credentials",
                "500": "logistics.unknown_number", "400": "logistics.request_refused",
                "408": "logistics.request_refused", "501": "logistics.source_busy", "502": "logistics.source_busy"}


@dataclass(frozen=True)
class FeedEvent:
    at: datetime
    context: str
    location: str | None
    status: str
    raw_status: str | None


@dataclass(frozen=True)
class Feed:
    state: str  # ours: in_transit / out_for_delivery / signed / exception
    tracking_no: str
    events: list[FeedEvent]

    @property
    def signed_at(self) -> datetime | None:
        if self.state != "signed":
            return None
        signed = [e.at for e in self.events if e.status == "signed"]
        return max(signed) if signed else max((e.at for e in self.events), default=None)


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 (the aggregator's scheme)


# what people type in the carrier field -> the aggregator's company code (anything else is sent as typed)
CARRIER_CODES = {
    "顺丰": "shunfeng", "顺丰速运": "shunfeng", "sf": "shunfeng", "sf express": "shunfeng",
    "中通": "zhongtong", "中通快递": "zhongtong", "zto": "zhongtong",
    "圆通": "yuantong", "圆通速递": "yuantong", "yto": "yuantong",
    "申通": "shentong", "申通快递": "shentong", "sto": "shentong",
    "韵达": "yunda", "韵达快递": "yunda", "yunda": "yunda",
    "京东": "jd", "京东物流": "jd", "jd": "jd", "jd logistics": "jd",
    "ems": "ems", "邮政": "youzhengguonei", "中国邮政": "youzhengguonei", "china post": "youzhengguonei",
    "德邦": "debangwuliu", "德邦物流": "debangwuliu", "deppon": "debangwuliu",
    "极兔": "jtexpress", "极兔速递": "jtexpress", "j&t": "jtexpress", "j&t express": "jtexpress",
}


def carrier_code(carrier: str) -> str:
    """The aggregator's company code for what was typed (顺丰 / SF Express -> shunfeng)."""
    return CARRIER_CODES.get(carrier.strip().lower(), carrier.strip())


def query_form(*, carrier: str, tracking_no: str, customer: str, key: str, phone: str = "") -> dict[str, str]:
    param = json.dumps({"com": carrier_code(carrier), "num": tracking_no, "phone": phone, "resultv2": "1"},
                       ensure_ascii=False, separators=(",", ":"))
    return {"customer": customer, "param": param, "sign": md5_upper(param + key + customer)}


def push_sign_ok(param: str, sign: str, salt: str) -> bool:
    return bool(salt) and hmac.compare_digest(md5_upper(param + salt), (sign or "").upper())


def _at(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(raw.strip()[:19], fmt).replace(tzinfo=CHINA).astimezone(UTC)
        except ValueError:
            continue
    return None


def event_status(item: dict[str, Any], fallback: str) -> str:
    word = str(item.get("status") or "")
    for needle, ours in _WORDS:
        if needle in word:
            return ours
    code = str(item.get("statusCode") or "")
    if code in STATE_CODES:
        return STATE_CODES[code]
    return "in_transit" if word else fallback


def parse_result(body: Any, tracking_no: str = "") -> Feed:
    """A query answer or a push's `lastResult` -> Feed (or the source's own error as ours)."""
    if not isinstance(body, dict):
        raise GendanError("logistics.answer_invalid", {})
    if body.get("result") is False or ("returnCode" in body and "data" not in body):
        code = str(body.get("returnCode") or "")
        raise GendanError(RETURN_CODES.get(code, "logistics.request_refused"),
                          {"code": code[:10], "message": str(body.get("message") or "")[:200]})
    data = body.get("data")
    if not isinstance(data, list):
        raise GendanError("logistics.answer_invalid", {})
    state = STATE_CODES.get(str(body.get("state") or ""), "in_transit")
    events: list[FeedEvent] = []
    for item in data[:MAX_EVENTS]:
        if not isinstance(item, dict):
            continue
        at = _at(item.get("ftime")) or _at(item.get("time"))
        context = str(item.get("context") or "").strip()[:500]
        if at is None or not context:
            continue
        location = item.get("location") or item.get("areaName")
        events.append(FeedEvent(at=at, context=context, location=str(location)[:120] if location else None,
                                status=event_status(item, state), raw_status=str(item.get("status") or "")[:40] or None))
    if state == "signed" and events and not any(e.status == "signed" for e in events):
        newest = max(events, key=lambda e: e.at)
        events = [FeedEvent(e.at, e.context, e.location, "signed", e.raw_status) if e is newest else e for e in events]
    return Feed(state=state, tracking_no=str(body.get("nu") or tracking_no)[:80], events=events)


def _json(raw: bytes, content_type: str) -> Any:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise GendanError("logistics.answer_not_json", {"content_type": (content_type or "?")[:60]}) from None
    return value


def query(url: str, form: dict[str, str], *, client: httpx.Client | None = None) -> Any:
    """One bounded POST to the query API; its JSON, or a GendanError saying what went wrong."""
    owned = client is None
    client = client or httpx.Client(follow_redirects=False, timeout=TIMEOUT_SECONDS)
    try:
        with client.stream("POST", url, data=form) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise GendanError("logistics.answer_too_large", {"limit": MAX_RESPONSE_BYTES})
            if response.status_code >= 400:
                raise GendanError("logistics.http_status", {"status": response.status_code, "url": url[:200]})
            return _json(body, response.headers.get("content-type", ""))
    except httpx.TimeoutException:
        raise GendanError("logistics.timeout", {"url": url[:200]}) from None
    except httpx.HTTPError as exc:
        raise GendanError("logistics.unreachable", {"url": url[:200], "error": type(exc).__name__}) from None
    finally:
        if owned:
            client.close()


def parse_push(param: str) -> Feed:
    """The push's `param` (its JSON text) -> Feed."""
    try:
        body = json.loads(param)
    except (ValueError, TypeError, RecursionError):
        raise GendanError("logistics.push_invalid", {}) from None
    if not isinstance(body, dict) or not isinstance(body.get("lastResult"), dict):
        raise GendanError("logistics.push_invalid", {})
    return parse_result(body["lastResult"])
