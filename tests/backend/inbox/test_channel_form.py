"""Issue 17: the channels page asks for each kind's settings in fields of their own (SMTP host,
port, user, sender; robot URL and secret; SMS gateway), checks them, and never shows a secret again."""

from __future__ import annotations

from sqlalchemy import select

from backend.notify.models import ChannelConfig
from frontend.pages.notifications import channel_from_form
from tests.conftest import login
from tests.factories.people import make_user


class TestChannelFromForm:
    def test_smtp_fields_become_target_secret_and_options(self):
        values, errors = channel_from_form({
            "name": "FRM-mail", "kind": "email", "smtp_host": "smtp.example.com", "smtp_port": "587",
            "smtp_username": "orders", "smtp_password": "pw", "smtp_from": "orders@example.com",
            "smtp_starttls": "on", "robot_url": "ignored"})
        assert errors == {}
        assert values == {"kind": "email", "target": "smtp.example.com:587", "secret": "pw",
                          "options": {"from": "orders@example.com", "username": "orders", "starttls": True}}

    def test_each_bad_field_is_named(self):
        _, errors = channel_from_form({"name": "", "kind": "email", "smtp_host": "smtp example",
                                       "smtp_port": "70000", "smtp_from": "nobody"})
        assert set(errors) == {"name", "smtp_host", "smtp_port", "smtp_from"}
        _, errors = channel_from_form({"name": "r", "kind": "wecom", "robot_url": "ftp://x"})
        assert set(errors) == {"robot_url"}
        _, errors = channel_from_form({"name": "s", "kind": "sms", "sms_url": "https://sms.example.com/send",
                                       "sms_key_header": "X Api Key"})
        assert set(errors) == {"sms_key_header"}

    def test_hostile_sizes_are_cut_not_stored(self):
        values, errors = channel_from_form({"name": "r", "kind": "webhook", "robot_url": "https://x.example/" + "a" * 5000})
        assert "robot_url" not in errors and len(values["target"]) == 500


class TestChannelsPage:
    def test_add_a_robot_in_chinese_and_its_secret_is_not_echoed(self, client, session):
        admin = make_user(session, roles=["admin"], locale="zh_CN")
        session.commit()
        login(client, admin.username)
        bad = client.post("/admin/channels", data={"name": "FRM-robot", "kind": "dingtalk", "robot_url": "robot",
                                                   "robot_secret": "SEC-FRM-1"})
        assert bad.status_code == 422
        assert "请填写完整地址，以 https:// 开头。" in bad.text and "SEC-FRM-1" not in bad.text
        ok = client.post("/admin/channels", data={"name": "FRM-robot", "kind": "dingtalk",
                                                  "robot_url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                                                  "robot_secret": "SEC-FRM-1"}, follow_redirects=False)
        assert ok.status_code == 303
        row = session.exec(select(ChannelConfig).where(ChannelConfig.name == "FRM-robot")).scalar_one()
        assert (row.kind, row.secret, row.options) == ("dingtalk", "SEC-FRM-1", {})
        page = client.get("/admin/channels").text
        assert "SEC-FRM-1" not in page and "Options (JSON)" not in page
