"""A report's chart as a PNG for scheduled delivery, and the signed, expiring links to one.

Drawing is `backend/charts` (pure: spec in, bytes out); this module turns a report result into a
spec in the reader's language, finds the machine's font once, and signs image links. A robot
that cannot take bytes (DingTalk, Feishu custom robots) gets a link
`/reports/images/<attachment id>.png?e=<unix expiry>&s=<signature>` to the PNG stored with its
outbox row: HMAC-SHA256 of "<id>.<expiry>" under a key derived from the installation's secret
key, valid IMAGE_LINK_DAYS. A changed character or a passed expiry is a 404, like an unknown id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from backend import i18n
from backend.charts import fonts as chart_fonts
from backend.charts.draw import compose_png, render_png
from backend.charts.spec import ChartSpec, Words, from_table
from backend.errors import GendanError
from backend.notify.models import OutboxAttachment
from backend.reports.service import ReportResult

log = logging.getLogger("gendan.reports.images")
PNG = "image/png"
IMAGE_LINK_DAYS = 30
WECOM_IMAGE_LIMIT = 2 * 1024 * 1024  # WeCom group robot: the image before base64, at most 2 MB


def words() -> Words:
    return Words(more=i18n.gettext("+%(count)s more", count="{n}"),
                 more_series=i18n.gettext("+%(count)s more series", count="{n}"),
                 more_rows=i18n.gettext("+%(count)s more rows", count="{n}"),
                 other=i18n.gettext("Other (%(count)s)", count="{n}"),
                 font_missing=i18n.gettext("No Chinese font on the server: install fonts-noto-cjk"),
                 empty=i18n.gettext("No data"))


def spec_of(result: ReportResult, definition: dict[str, Any], title: str, headers: list[str],
            rows: list[list[Any]], *, subtitle: str = "") -> ChartSpec:
    view = definition.get("view") or {}
    return from_table(str(view.get("type") or "table"), title, headers, rows, dimensions=len(result.dimensions),
                      percent_measures=[m.get("op") == "rate" for m in result.measures],
                      conversion=bool(view.get("conversion")), subtitle=subtitle, words=words())


def problem_spec(title: str, reason: str) -> ChartSpec:
    """A tile whose report could not run: its title and the reason, as a one-cell table."""
    return ChartSpec("table", title, headers=("",), table=((reason,),), numeric=(False,), words=words())


def _fonts() -> chart_fonts.Fonts:
    return chart_fonts.Fonts(chart_fonts.default_source())


def _logged(fonts: chart_fonts.Fonts, title: str) -> None:
    if fonts.replaced:
        log.warning("chart %r: %s Chinese characters drawn as '?' (no CJK font; install fonts-noto-cjk or set "
                    "GENDAN_CHART_FONT)", title, fonts.replaced)


def chart_png(spec: ChartSpec) -> bytes:
    fonts = _fonts()
    content = render_png(spec, fonts)
    _logged(fonts, spec.title)
    return content


def dashboard_png(title: str, tiles: list[tuple[ChartSpec, int, int, int, int]]) -> bytes:
    fonts = _fonts()
    content = compose_png(title, tiles, fonts)
    _logged(fonts, title)
    return content


# --- signed links ----------------------------------------------------------------------------------

def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"gendan report image link", hashlib.sha256).digest()


def signature(secret: str, attachment_id: int, expires: int) -> str:
    return hmac.new(_key(secret), f"{attachment_id}.{expires}".encode(), hashlib.sha256).hexdigest()[:40]


def image_link(base_url: str, secret: str, attachment_id: int, now: datetime) -> str:
    expires = int((now + timedelta(days=IMAGE_LINK_DAYS)).timestamp())
    return (f"{base_url.rstrip('/')}/reports/images/{attachment_id}.png"
            f"?e={expires}&s={signature(secret, attachment_id, expires)}")


def linked_image(session: Session, *, secret: str, attachment_id: int, expires: str, sig: str,
                 now: datetime) -> bytes:
    """The PNG behind a signed link, or 404 (`report.image_not_found`) for anything else."""
    missing = GendanError("report.image_not_found", status=404)
    if not expires.isdigit() or len(expires) > 12 or int(expires) < now.timestamp():
        raise missing
    if not hmac.compare_digest(signature(secret, attachment_id, int(expires)), sig):
        raise missing
    row = session.get(OutboxAttachment, attachment_id)
    if row is None or row.content_type != PNG:
        raise missing
    return bytes(row.content)
