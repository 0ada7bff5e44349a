"""What a vendor template module provides (`VendorTemplate`, `fetch`) and what its fetch gets
(`FetchContext` with `VendorHttp`): the framework side of backend/connectors/vendors/.

`VendorHttp` is the HTTP JSON pull's request path (backend/connectors/http_pull.py) for requests
a vendor shapes itself (POST bodies, signed query strings, a login session's cookie): the same
rate limit, retries with backoff on 5xx/429/timeouts, answer size cap (streamed), JSON depth cap,
and a bound on requests per run. The cursor moves with the records: a fetch yields `VendorPage`s,
each with the cursor that holds once its records are written (the runner stores it in the
transaction of the page's last record, or alone for an empty page).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from backend import i18n
from backend.connectors.http_pull import HttpPull, parse_json
from backend.connectors.schemas import HttpJsonSettings
from backend.connectors.vendor_settings import VendorSettings
from backend.errors import GendanError
from engine.connectors import windows

Text = Mapping[str, str]  # {"en": "...", "zh_CN": "..."}
SECRET_NAMES = ("password", "app_secret", "access_token", "client_secret", "secret_header_value")


def text(value: Text | str) -> str:
    """A template's text in the reader's language (English when it has none in that language)."""
    if isinstance(value, str):
        return value
    return value.get(i18n.get_locale()) or value.get("en") or next(iter(value.values()), "")


@dataclass(frozen=True)
class Option:
    """A plain setting of the vendor (account id, app key, user name): `settings.options[name]`."""

    name: str
    label: Text
    default: str = ""
    required: bool = True
    hint: Text | None = None


@dataclass(frozen=True)
class Secret:
    """A secret the vendor needs, stored encrypted under one of SECRET_NAMES."""

    name: str
    label: Text
    required: bool = True


@dataclass(frozen=True)
class VendorTemplate:
    key: str  # also settings.vendor and the module's name
    label: Text
    description: Text
    mapping: dict[str, Any]  # an ImportMapping as JSON: source paths of the fetched records -> order fields
    fills: tuple[str, ...]  # the order fields the mapping fills (core targets or data.<key>)
    leaves: tuple[Text | str, ...]  # what is left to the user (core targets or words)
    kind: str = "vendor"  # or "http_json" when the generic pull can read it (then `settings` are its settings)
    base_url: str = ""  # the default base URL (e.g. the vendor's public gateway), or "" to be entered
    base_url_hint: Text | None = None
    options: tuple[Option, ...] = ()
    secrets: tuple[Secret, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # other settings (page_size, window_minutes, ...)
    schedule_minutes: int = 5
    data_labels: dict[str, Text] = field(default_factory=dict)  # labels of the data.<key> targets it fills
    docs: tuple[str, ...] = ()  # the vendor's public API pages the module follows
    update_only: bool = False  # records update existing orders (backend/connectors/vendor_update.py), never create

    def default_settings(self) -> dict[str, Any]:
        if self.kind != "vendor":
            return dict(self.settings)
        return {"vendor": self.key, "base_url": self.base_url,
                "options": {o.name: o.default for o in self.options}, **self.settings}


@dataclass
class VendorPage:
    records: list[dict[str, Any]]
    cursor: dict[str, Any]  # the connector's cursor once these records are written (replaces the keys it has)


class VendorHttp:
    """Requests with http_pull's politeness and bounds; JSON answers only."""

    def __init__(self, settings: VendorSettings, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        config = HttpJsonSettings(url_template=settings.base_url, rate_limit_per_second=settings.rate_limit_per_second,
                                  max_retries=settings.max_retries, timeout_seconds=settings.timeout_seconds,
                                  max_response_bytes=settings.max_response_bytes)
        self._pull = HttpPull(config, {}, client=client, sleep=sleep)
        self.base_url = settings.base_url.rstrip("/")
        self.requests_left = settings.max_pages_per_run + 20  # pages plus logins and tokens

    def close(self) -> None:
        self._pull.close()

    def __enter__(self) -> VendorHttp:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, path: str) -> str:
        if not path:
            return self.base_url
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                data: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                accept_status: tuple[int, ...] = ()) -> Any:
        """The JSON answer; HTTP >= 400 (unless in accept_status), not JSON, too large or too deep
        raise the connector's usual errors."""
        if self.requests_left <= 0:
            raise GendanError("vendor.too_many_requests", {})
        self.requests_left -= 1
        url = self.url(path)
        hdrs = {"Accept": "application/json", **(headers or {})}
        response, content = self._pull.send(lambda: self._pull.client.build_request(
            method, url, params=params, json=json, data=data, headers=hdrs), url)
        if response.status_code >= 400 and response.status_code not in accept_status:
            raise GendanError("connector.http_status", {"status": response.status_code, "url": url[:200]})
        return parse_json(content, response.headers.get("content-type", ""))

    def get(self, path: str, **kw) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> Any:
        return self.request("POST", path, **kw)


@dataclass
class FetchContext:
    http: VendorHttp
    settings: VendorSettings
    options: dict[str, str]  # the template's defaults overlaid with the saved options
    secrets: dict[str, Any]
    cursor: dict[str, Any]  # as saved (read-only: report moves through VendorPage.cursor)
    now: datetime  # aware UTC, the run's start
    zone: ZoneInfo  # the vendor's zone (settings.timezone)
    vendor: str = ""

    def option(self, name: str) -> str:
        value = str(self.options.get(name) or "").strip()
        if not value:
            raise GendanError("vendor.option_missing", {"name": name})
        return value

    def secret(self, name: str) -> str:
        value = str(self.secrets.get(name) or "")
        if not value:
            raise GendanError("vendor.secret_missing", {"name": name})
        return value

    def windows(self, *, span: timedelta | None = None, lag: timedelta = timedelta(seconds=60)) \
            -> Iterator[windows.Window]:
        """Modified-time windows from the cursor up to `lag` before now, at most `span` long each
        (default settings.window_minutes). The fetch must yield a page with windows.cursor_done(w)
        (or cursor_at) for each window before asking for the next; it stops when the requests run out."""
        span = span or timedelta(minutes=self.settings.window_minutes)
        cursor = dict(self.cursor)
        while self.http.requests_left > 0:
            window = windows.open_window(cursor, now=self.now, zone=self.zone,
                                         initial_since=self.settings.initial_since, span=span, lag=lag)
            if window is None:
                return
            yield window
            cursor = windows.cursor_done(window)

    def epoch_ms(self, local: datetime) -> int:
        """A window's naive local time as epoch milliseconds (APIs such as DingTalk's take these)."""
        return int(local.replace(tzinfo=self.zone).timestamp() * 1000)

    def parse_time(self, value: Any) -> datetime | None:
        try:
            return windows.parse_local(str(value or ""), self.zone)
        except windows.TimeError:
            return None


def api_error(vendor: str, code: Any, message: Any) -> GendanError:
    """The vendor answered an error: its own code and message, bounded, for the health page."""
    return GendanError("vendor.api_error", {"vendor": vendor, "code": str(code)[:60], "message": str(message)[:300]})


def login_failed(vendor: str, message: Any) -> GendanError:
    return GendanError("vendor.login_failed", {"vendor": vendor, "message": str(message)[:300]})
