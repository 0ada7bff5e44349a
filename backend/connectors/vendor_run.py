"""Running a `vendor` connector: the template's fetch yields pages, each record goes through the
runner's record path (one transaction per record), and the page's cursor moves in the transaction
of its last record (an empty page moves it alone). Also the sample for the connector form."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlmodel import Session

from backend.connectors import vendors
from backend.connectors.vendor_base import FetchContext, VendorHttp, VendorPage
from backend.connectors.vendor_settings import VendorSettings
from backend.errors import GendanError


def zone_of(settings: VendorSettings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise GendanError("vendor.timezone_invalid", {"value": settings.timezone[:60]}) from None


def _fetch(settings: VendorSettings):
    fetch = vendors.fetcher(settings.vendor)
    template = vendors.get(settings.vendor)
    if fetch is None or template is None:
        raise GendanError("vendor.unknown", {"key": settings.vendor})
    return template, fetch


def context(http: VendorHttp, settings: VendorSettings, secrets: dict[str, Any], cursor: dict[str, Any],
            now) -> FetchContext:
    template, _ = _fetch(settings)
    options = {o.name: o.default for o in template.options}
    options.update({k: v for k, v in settings.options.items() if str(v).strip()})
    return FetchContext(http=http, settings=settings, options=options, secrets=dict(secrets), cursor=dict(cursor),
                        now=now, zone=zone_of(settings), vendor=template.key)


def pages(settings: VendorSettings, secrets: dict[str, Any], cursor: dict[str, Any], now, *,
          client: httpx.Client | None = None, sleep=None):
    """Every page the vendor's fetch yields (a generator; the HTTP client closes when it ends)."""
    _, fetch = _fetch(settings)
    kwargs = {"client": client} if sleep is None else {"client": client, "sleep": sleep}
    with VendorHttp(settings, **kwargs) as http:
        for page in fetch(context(http, settings, secrets, cursor, now)):
            if not isinstance(page, VendorPage):
                raise TypeError("a vendor fetch must yield VendorPage")
            yield page


def run(session: Session, ctx, secrets: dict[str, Any], cursor: dict[str, Any], client, sleep) -> None:
    from backend.connectors.runner import _book, _record

    limit = ctx.config.max_records_per_run
    position = 0
    generator = pages(ctx.config, secrets, cursor, ctx.now, client=client, sleep=sleep)
    try:
        for page in generator:
            for index, record in enumerate(page.records):
                position += 1
                last = index == len(page.records) - 1
                _record(session, ctx, position, record, dict(page.cursor) if last else None)
            if not page.records:
                _book(session, ctx, None, None, dict(page.cursor))
                session.commit()
            if position >= limit:
                return  # the cursor stands at this page's end: the next run reads on
    finally:
        generator.close()


def sample(settings: VendorSettings, secrets: dict[str, Any], now, *, limit: int,
           client: httpx.Client | None = None) -> list[Any]:
    """The first records from the start (initial_since), nothing written."""
    quick = settings.model_copy(update={"max_retries": min(settings.max_retries, 1),
                                        "timeout_seconds": min(settings.timeout_seconds, 15),
                                        "max_pages_per_run": min(settings.max_pages_per_run, 20)})
    records: list[Any] = []
    generator = pages(quick, secrets, {}, now, client=client)
    try:
        for page in generator:
            records.extend(page.records)
            if len(records) >= limit:
                break
    finally:
        generator.close()
    return records[:limit]
