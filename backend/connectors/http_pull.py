"""HTTP JSON pull: page through a JSON API with httpx, politely and defensively.

Polite: at most `rate_limit_per_second` requests, retries with exponential backoff on 5xx, 429
and timeouts, OAuth2 client-credentials tokens cached until shortly before they expire.
Defensive (the source may be hostile or broken): each answer is read as a stream and cut at
`max_response_bytes`, must be JSON no deeper than MAX_DEPTH, a run reads at most
`max_records_per_run` records and `max_pages_per_run` pages, and a next link to another host is
not followed (it would carry our credentials there). Every failure is a GendanError with a code
the health page shows in the user's language.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from backend.connectors.schemas import HttpJsonSettings
from backend.errors import GendanError
from engine.connectors import jsonpath, paging

MAX_DEPTH = 32
MAX_BACKOFF_SECONDS = 30.0
_tokens: dict[str, tuple[str, float]] = {}  # cache key -> (access token, monotonic expiry)
_tokens_lock = threading.Lock()


@dataclass
class Page:
    records: list[Any]
    token: str  # the page token that fetched this page: where a later run resumes
    request: paging.PageRequest | None = None  # what asked this page
    following: paging.PageRequest | None = None  # the next page's request; None at the source's end
    whole: bool = True  # False: cut by the record bound (its rest is read by the next run)

    @property
    def count(self) -> int:
        return len(self.records)


class HttpPull:
    def __init__(self, config: HttpJsonSettings, secrets: dict[str, Any], *, since: str = "", token: str = "",
                 start: paging.PageRequest | None = None, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, backoff_seconds: float = 0.5):
        self.config, self.secrets, self.since, self.token = config, secrets, since, token
        self.start = start  # the page a stopped run was inside (backend/connectors/page_position.py)
        self._owns_client = client is None
        self.client = client or httpx.Client(follow_redirects=False, timeout=config.timeout_seconds)
        self.sleep, self.monotonic, self.backoff = sleep, monotonic, backoff_seconds
        self.plan = paging.PagingPlan(mode=config.paging, first_page=config.first_page, page_size=config.page_size,
                                      next_cursor_path=config.next_cursor_path, next_link_path=config.next_link_path)
        self._last_request = -1e9

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> HttpPull:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def pages(self, *, max_records: int | None = None) -> Iterator[Page]:
        """Every page in order, until the source has no more or a bound is reached."""
        limit = min(max_records or self.config.max_records_per_run, self.config.max_records_per_run)
        request = self.start or paging.first_request(self.plan, self.config.url_template, since=self.since,
                                                     cursor=self.token)
        read = 0
        for _ in range(self.config.max_pages_per_run):
            body, link = self._get_json(request.url)
            try:
                records = jsonpath.records(body, self.config.records_path) if self.config.records_path else \
                    (body if isinstance(body, list) else None)
            except jsonpath.PathError:
                records = None
            if records is None or (self.config.records_path and not jsonpath.reaches(body, self.config.records_path)):
                raise GendanError("connector.records_not_found", {"path": self.config.records_path or "$"})
            whole = len(records) <= limit - read
            records = records[: limit - read]
            read += len(records)
            following = paging.next_request(self.plan, self.config.url_template, request, body=body,
                                            count=len(records), link_header=link, since=self.since)
            # the token stored with the page's last record: where the next run starts. Once a whole
            # page is written that is the next page's token (a crash re-reads nothing), else this
            # page's own (the last page, or one cut by the record bound, is asked again)
            moves = whole and following is not None and self.plan.mode in ("cursor", "next_link")
            yield Page(records=records, token=following.cursor if moves else request.cursor, request=request,
                       following=following, whole=whole)
            if read >= limit or following is None:
                return
            request = following

    # ------------------------------------------------------------ one request

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.config.headers}
        if self.config.secret_header_name and self.secrets.get("secret_header_value"):
            headers[self.config.secret_header_name] = self.secrets["secret_header_value"]
        if self.config.auth == "oauth2_client_credentials":
            headers["Authorization"] = f"Bearer {self._access_token()}"
        return headers

    def _get_json(self, url: str) -> tuple[Any, str]:
        response, content = self._send(lambda: self.client.build_request("GET", url, headers=self._headers()), url)
        if response.status_code == 401 and self.config.auth == "oauth2_client_credentials":
            self._forget_token()  # expired early or revoked: one fresh token, one more try
            response, content = self._send(lambda: self.client.build_request("GET", url, headers=self._headers()),
                                           url)
        if response.status_code >= 400:
            raise GendanError("connector.http_status", {"status": response.status_code, "url": _short(url)})
        return parse_json(content, response.headers.get("content-type", "")), response.headers.get("link", "")

    def send(self, build: Callable[[], httpx.Request], url: str) -> tuple[httpx.Response, bytes]:
        """One request built by the caller (vendor adapters), with the same rate limit, retries and bound."""
        return self._send(build, url)

    def _send(self, build: Callable[[], httpx.Request], url: str) -> tuple[httpx.Response, bytes]:
        """One request with rate limit and retries; the answer read up to the byte bound."""
        attempt = 0
        while True:
            wait = self._last_request + 1.0 / self.config.rate_limit_per_second - self.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last_request = self.monotonic()
            try:
                response, content = self._read(build())
            except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
                # a URL or header httpx cannot send (bad host, characters outside Latin-1): not retried
                raise GendanError("connector.request_invalid", {"url": _short(url), "error": type(exc).__name__}) \
                    from exc
            except httpx.TimeoutException as exc:
                if attempt >= self.config.max_retries:
                    raise GendanError("connector.http_timeout", {"url": _short(url)}) from exc
            except httpx.TransportError as exc:
                if attempt >= self.config.max_retries:
                    raise GendanError("connector.http_unreachable",
                                      {"url": _short(url), "error": type(exc).__name__}) from exc
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response, content
                if attempt >= self.config.max_retries:
                    return response, content
            self.sleep(min(MAX_BACKOFF_SECONDS, self.backoff * 2 ** attempt))
            attempt += 1

    def _read(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        limit = self.config.max_response_bytes
        response = self.client.send(request, stream=True, follow_redirects=False)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise GendanError("connector.response_too_large", {"limit": limit})
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise GendanError("connector.response_too_large", {"limit": limit})
                chunks.append(chunk)
        finally:
            response.close()
        return response, b"".join(chunks)

    # ------------------------------------------------------------ OAuth2 client credentials

    def _token_key(self) -> str:
        secret = str(self.secrets.get("client_secret") or "")
        raw = "\x00".join((self.config.token_url, self.config.client_id, self.config.scope, secret))
        return hashlib.sha256(raw.encode()).hexdigest()

    def _forget_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self._token_key(), None)

    def _access_token(self) -> str:
        key = self._token_key()
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached and cached[1] > self.monotonic():
            return cached[0]
        form = {"grant_type": "client_credentials", "client_id": self.config.client_id,
                "client_secret": str(self.secrets.get("client_secret") or "")}
        if self.config.scope:
            form["scope"] = self.config.scope
        url = self.config.token_url
        response, content = self._send(lambda: self.client.build_request(
            "POST", url, data=form, headers={"Accept": "application/json"}), url)
        if response.status_code >= 400:
            raise GendanError("connector.oauth_failed", {"status": response.status_code})
        try:
            body = parse_json(content, response.headers.get("content-type", ""))
        except GendanError:
            raise GendanError("connector.oauth_invalid", {}) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise GendanError("connector.oauth_invalid", {})
        expires_in = body.get("expires_in")
        seconds = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 300.0
        with _tokens_lock:
            _tokens[key] = (token, self.monotonic() + max(0.0, seconds - 30))  # renew before it runs out
        return token


def parse_json(content: bytes, content_type: str) -> Any:
    """The answer as JSON, refusing what is not JSON or nests deeper than MAX_DEPTH."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        if content.lstrip()[:1] in (b"[", b"{") and content.count(b"[") + content.count(b"{") > MAX_DEPTH:
            raise GendanError("connector.response_too_deep", {"limit": MAX_DEPTH}) from None
        raise GendanError("connector.response_not_json", {"content_type": content_type[:80] or "-"}) from None
    if jsonpath.depth_exceeds(body, MAX_DEPTH):
        raise GendanError("connector.response_too_deep", {"limit": MAX_DEPTH})
    return body


def _short(url: str) -> str:
    """A URL for messages: without its query (which may carry a key)."""
    return url.split("?", 1)[0][:200]
