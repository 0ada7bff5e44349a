"""Scheduled reports deliver the chart image: inline in a real SMTP server's mail next to the
.xlsx, as WeCom's image message (base64 + md5) to a real HTTP receiver, as a signed, expiring link
for DingTalk and Feishu (changed character or expired: 404), and in the designer's preview."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.charts.canvas import PALETTE
from backend.errors import GendanError
from backend.notify import delivery
from backend.notify.models import ChannelConfig, OutboxAttachment
from backend.reports import dashboards, images, schedules
from backend.settings import Settings
from tests.backend.charts.test_draw import bars
from tests.backend.notify.servers import HttpReceiver, SmtpServer, free_port
from tests.backend.reports.test_schedules import DEFINITION, _published, _two_teams
from tests.conftest import login
from tests.factories.people import make_user

SECRET = "test-secret"  # the app fixture's secret key


def png_size(content: bytes) -> tuple[int, int]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(content)).size


def _robot(session, now, kind: str, url: str) -> ChannelConfig:
    config = ChannelConfig(name=f"img {kind}", kind=kind, target=url + "/hook", created_at=now, updated_at=now)
    session.add(config)
    session.commit()
    return config


def _schedule(session, actor, now, *, user_ids=(), channel_id=None, locale="en"):
    return schedules.create(session, actor=actor, key=DEFINITION["key"], kind="daily", at="00:00", weekday=None,
                            day=None, user_ids=list(user_ids), channel_id=channel_id, locale=locale,
                            now=now - timedelta(days=2))


def _through_robot(session, connection, kind: str, at: datetime, *, base_url: str, locale: str = "en",
                   reply: dict | None = None) -> list[dict]:
    """A daily schedule of rep1's sent at `at` to a real HTTP receiver acting as the robot: its requests."""
    _published(session, at)
    rep1, _ = _two_teams(session)
    robot = HttpReceiver(reply=reply or {"errcode": 0, "errmsg": "ok"})
    try:
        config = _robot(session, at, kind, robot.url)
        _schedule(session, load_actor(session, rep1.id), at, channel_id=config.id, locale=locale)
        assert schedules.send_due(connection, at, base_url=base_url, secret=SECRET) == 1
        delivery.deliver_outbox(connection, at, settings=Settings(DATABASE_URL="sqlite://"))
        return [r.json() for r in robot.requests]
    finally:
        robot.close()


def test_email_has_the_chart_inline_and_the_excel_file(session, connection, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    _schedule(session, load_actor(session, rep1.id), now, user_ids=[rep1.id])
    assert schedules.send_due(connection, now) == 1
    server = SmtpServer(free_port())
    server.start()
    try:
        settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=server.port,
                            smtp_from="g@example.com")
        assert delivery.deliver_outbox(connection, now, settings=settings) == 1
        mail = server.messages[0][1]
    finally:
        server.stop()
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    related = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(related) == 1
    cid = related[0]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert png_size(related[0].get_content()) == (960, 540)
    files = [p for p in mail.iter_attachments() if p.get_content_type() != "image/png"]
    assert [f.get_filename().rsplit(".", 1)[1] for f in files] == ["xlsx"]
    sheet = load_workbook(io.BytesIO(files[0].get_content())).active
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [["Owner", "Orders"], ["Rep One", 3]]


def test_wecom_gets_the_image_base64_with_its_md5_then_the_rows(session, connection, now):
    image, text = _through_robot(session, connection, "wecom", now, base_url="http://gendan.test")
    assert set(image) == {"msgtype", "image"} and image["msgtype"] == "image"
    assert set(image["image"]) == {"base64", "md5"}
    content = base64.b64decode(image["image"]["base64"], validate=True)
    assert hashlib.md5(content).hexdigest() == image["image"]["md5"]  # noqa: S324
    assert png_size(content) == (960, 540) and len(content) <= 2 * 1024 * 1024
    assert text["msgtype"] == "markdown" and "Rep One | 3" in text["markdown"]["content"]


def test_dingtalk_gets_a_signed_link_that_serves_the_png_until_it_expires(client, session, connection, now):
    sent_at = datetime.now(UTC)  # the link is checked against the wall clock by the server
    [body] = _through_robot(session, connection, "dingtalk", sent_at, base_url="http://testserver")
    assert body["msgtype"] == "markdown"
    text = body["markdown"]["text"]
    url = text.split("](", 1)[1].split(")", 1)[0]
    assert text.startswith("### Report By owner") and "![" in text and "Rep One | 3" in text
    assert url.startswith("http://testserver/reports/images/") and "?e=" in url and "&s=" in url
    path = url.removeprefix("http://testserver")
    served = client.get(path)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert png_size(served.content) == (960, 540)
    # one character changed anywhere: 404
    last = path[-1]
    assert client.get(path[:-1] + ("0" if last != "0" else "1")).status_code == 404
    attachment_id = int(path.split("/")[-1].split(".")[0])
    assert client.get(path.replace(f"/{attachment_id}.png", f"/{attachment_id + 1}.png")).status_code == 404
    # expired: a link made 31 days ago, and this one read 31 days from now
    old = images.image_link("", SECRET, attachment_id, sent_at - timedelta(days=31))
    assert client.get(old).status_code == 404
    expires, sig = path.split("?e=")[1].split("&s=")
    with pytest.raises(GendanError) as err:
        images.linked_image(session, secret=SECRET, attachment_id=attachment_id, expires=expires, sig=sig,
                            now=sent_at + timedelta(days=31))
    assert err.value.code == "report.image_not_found"
    refused = client.get(path[:-1] + "x", headers={"Accept-Language": "zh-CN", "Accept": "application/json"})
    assert refused.status_code == 404
    # the Excel file of an e-mail is never served by such a link, even with a valid signature
    xlsx = OutboxAttachment(message_id=attachment_id and session.get(OutboxAttachment, attachment_id).message_id,
                            filename="x.xlsx", content_type=schedules.XLSX, content=b"PK")
    session.add(xlsx)
    session.commit()
    assert client.get(images.image_link("", SECRET, xlsx.id, sent_at)).status_code == 404


def test_feishu_gets_a_post_with_the_image_link(session, connection, now):
    [body] = _through_robot(session, connection, "feishu", now, base_url="http://gendan.test", locale="zh_CN",
                            reply={"code": 0, "msg": "ok"})
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"].startswith("报表")
    link = post["content"][0][0]
    assert link["tag"] == "a" and link["href"].startswith("http://gendan.test/reports/images/")
    assert any("Rep One | 3" in line[0]["text"] for line in post["content"][1:])


def test_the_designer_previews_the_image_with_the_readers_access(client, session, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    login(client, rep1.username)
    key = DEFINITION["key"]
    fragment = client.get(f"/designer/reports/{key}/schedules/preview?locale=en", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and f"/designer/reports/{key}/schedules/preview.png?locale=en" in fragment.text
    image = client.get(f"/designer/reports/{key}/schedules/preview.png?locale=en")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (960, 540)
    # drawn with the reader's access: rep1's team only, one bar (an admin's preview has both teams')
    assert len(bars(Image.open(io.BytesIO(image.content)).convert("RGB"), PALETTE[0])) == 1
    admin = load_actor(session, make_user(session, roles=["admin"]).id)
    everyone = schedules.preview_png(session, actor=admin, key=key, locale="en", now=now)
    assert len(bars(Image.open(io.BytesIO(everyone)).convert("RGB"), PALETTE[0])) >= 2
    assert client.get("/designer/reports/no_such_report/schedules/preview.png").status_code == 404
    assert session.exec(select(OutboxAttachment)).first() is None  # a preview sends and stores nothing


def _dashboard(session, now, key="img_board"):
    admin = load_actor(session, make_user(session, roles=["admin"]).id)
    dashboards.save_and_publish(session, actor=admin, now=now, definition={
        "key": key, "name": {"zh": "看板", "en": "Board"},
        "tiles": [{"report": DEFINITION["key"], "x": 0, "y": 0, "w": 6, "h": 4},
                  {"report": DEFINITION["key"], "x": 6, "y": 0, "w": 6, "h": 4},
                  {"report": DEFINITION["key"], "x": 0, "y": 4, "w": 12, "h": 3}],
        "shared_with": {"roles": ["sales"], "departments": []}})
    session.commit()
    return key


def test_a_dashboard_schedule_sends_one_image_of_its_tiles(session, connection, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    key = _dashboard(session, now)
    robot = HttpReceiver()
    server = SmtpServer(free_port())
    server.start()
    try:
        config = _robot(session, now, "wecom", robot.url)
        schedules.create(session, actor=load_actor(session, rep1.id), key=key, kind="daily", at="00:00",
                         weekday=None, day=None, user_ids=[rep1.id], channel_id=config.id, locale="en",
                         now=now - timedelta(days=2), dashboard=True)
        assert schedules.list_schedules(session, key) == []  # not among a report's schedules of that key
        assert len(schedules.list_schedules(session, key, dashboard=True)) == 1
        assert schedules.send_due(connection, now, base_url="http://gendan.test", secret=SECRET) == 1
        settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=server.port,
                            smtp_from="g@example.com")
        assert delivery.deliver_outbox(connection, now, settings=settings) == 3
        image, text = (r.json() for r in robot.requests)
        mail = server.messages[0][1]
    finally:
        robot.close()
        server.stop()
    content = base64.b64decode(image["image"]["base64"])
    assert hashlib.md5(content).hexdigest() == image["image"]["md5"]  # noqa: S324
    assert png_size(content) == (1200, 56 + 7 * 90 + 8)  # 12 columns, 7 rows of tiles
    drawn = Image.open(io.BytesIO(content)).convert("RGB")
    assert len(bars(drawn.crop((0, 60, 600, 420)), PALETTE[0], below=0)) == 1  # rep1's team: one bar per tile
    assert "By owner" in text["markdown"]["content"] and "http://gendan.test/dashboards/img_board" in text["markdown"]["content"]
    assert mail["Subject"].startswith("Dashboard Board")
    parts = [p.get_content_type() for p in mail.walk() if not p.is_multipart()]
    assert "image/png" in parts and not any("spreadsheet" in p for p in parts)


def test_the_dashboard_page_schedules_and_previews(client, session, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    key = _dashboard(session, now, "img_board_page")
    login(client, rep1.username)
    page = client.get(f"/dashboards/{key}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Send this dashboard as one image" in page.text
    assert f'hx-post="/dashboards/{key}/schedules"' in page.text
    added = client.post(f"/dashboards/{key}/schedules", headers={"HX-Request": "true", "Accept-Language": "en"},
                        data={"kind": "daily", "at": "08:15", "user_ids": [str(rep1.id)], "locale": "en"})
    assert added.status_code == 200 and "Daily at 08:15" in added.text
    image = client.get(f"/dashboards/{key}/schedules/preview.png?locale=zh_CN")
    assert image.status_code == 200 and png_size(image.content)[0] == 1200
    assert client.get("/dashboards/no_such_board/schedules/preview.png").status_code == 404
