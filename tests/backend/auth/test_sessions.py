"""Revocable sign-ins (sign-out, password/role/active changes), the CSRF token rotating at sign-in,
the last-admin guard, and the secret key (never the public default; generated once and kept)."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from backend.app import create_app
from backend.cli.main import app as cli
from backend.people.models import User
from backend.settings import SecretKeyError, Settings, ensure_secret_key
from tests.conftest import _csrf_from, bearer, login
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _cookie(client) -> str:
    return client.cookies.get("gendan_session")


class TestSignOut:
    def test_a_copied_cookie_stops_working_after_sign_out(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        login(client, "rep")
        copied = _cookie(client)
        assert client.get("/api/v1/users/me").status_code == 200
        assert client.post("/logout", follow_redirects=False).status_code == 303
        client.cookies.set("gendan_session", copied)
        resp = client.get("/api/v1/users/me", headers=EN)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.required"
        assert client.get("/orders", follow_redirects=False).headers["location"].startswith("/login")

    def test_the_csrf_token_changes_at_sign_in(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        before = _csrf_from(client.get("/login").text)
        login(client, "rep")
        after = client.headers["X-CSRF-Token"]
        assert after != before
        forged = client.post("/api/v1/customers", json={"name": "Old token", "email": "o@x.cn"},
                             headers={"X-CSRF-Token": before})
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "auth.csrf_failed"


class TestAdminChangesRevoke:
    @pytest.mark.parametrize("change", [{"password": "a-new-password-1"}, {"is_active": False},
                                        {"roles": ["viewer"]}])
    def test_cookies_and_tokens_of_the_user_stop_working(self, app, session, change):
        from fastapi.testclient import TestClient

        make_user(session, username="root", roles=["admin"])
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        with TestClient(app) as admin, TestClient(app) as browser:
            admin_auth = bearer(admin, "root")
            login(browser, "rep")
            token = bearer(browser, "rep")
            rep_id = browser.get("/api/v1/users/me").json()["id"]
            assert browser.get("/api/v1/users/me", headers=token).status_code == 200
            changed = admin.patch(f"/api/v1/users/{rep_id}", json=change, headers=admin_auth)
            assert changed.status_code == 200, changed.text
            assert browser.get("/api/v1/users/me", headers={**token, **EN}).json()["error"]["code"] == \
                "auth.invalid_token"
            assert browser.get("/api/v1/users/me").status_code == 401
            assert admin.get("/api/v1/users/me", headers=admin_auth).status_code == 200  # others keep theirs

    def test_saving_a_user_without_changing_credentials_keeps_them_signed_in(self, client, session):
        make_user(session, username="root", roles=["admin"])
        rep = make_user(session, username="rep", roles=["sales"])
        session.commit()
        token = bearer(client, "rep")
        admin = bearer(client, "root")
        assert client.patch(f"/api/v1/users/{rep.id}", json={"display_name": "Rep Two", "roles": ["sales"]},
                            headers=admin).status_code == 200
        assert client.get("/api/v1/users/me", headers=token).json()["display_name"] == "Rep Two"


class TestLastAdmin:
    @pytest.mark.parametrize("change", [{"is_active": False}, {"roles": ["sales"]}])
    def test_the_last_active_admin_stays_admin(self, client, session, change):
        # only this test's users are active (load checks commit users of their own; rolled back after)
        session.execute(update(User).values(is_active=False))
        root = make_user(session, username="root", roles=["admin"], display_name="Root")
        make_user(session, username="old", roles=["admin"], is_active=False)
        make_user(session, username="helper", roles=["admin", "sales"])
        session.commit()
        helper = bearer(client, "helper")
        helper_id = client.get("/api/v1/users/me", headers=helper).json()["id"]
        # with two active admins one may go ...
        assert client.patch(f"/api/v1/users/{helper_id}", json=change, headers=bearer(client, "root")).status_code \
            == 200
        # ... but not the last one
        auth = bearer(client, "root")
        refused = client.patch(f"/api/v1/users/{root.id}", json=change, headers={**auth, **EN})
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == ("Root is the last active administrator: give another user "
                                                      "the administrator role first.")
        zh = client.patch(f"/api/v1/users/{root.id}", json=change, headers={**auth, **ZH})
        assert zh.json()["error"]["message"] == "Root 是最后一位启用中的管理员：请先把管理员角色授予其他用户。"
        assert client.get("/api/v1/users/me", headers=auth).json()["roles"] == ["admin"]


class TestSecretKey:
    def test_the_public_default_is_refused(self, db_url, connection):
        with pytest.raises(SecretKeyError) as err:
            create_app(Settings(DATABASE_URL=db_url, secret_key="dev-secret-change-me", run_worker=False),
                       engine=connection, start_worker=False)
        assert err.value.code == "settings.secret_key_public"

    def test_without_a_key_one_is_generated_private_and_kept(self, tmp_path):
        settings, generated = ensure_secret_key(Settings(secret_key=None, data_dir=tmp_path / "var"))
        assert generated == tmp_path / "var" / "secret_key"
        assert len(settings.secret_key) >= 48 and settings.secret_key != "dev-secret-change-me"
        assert stat.S_IMODE(generated.stat().st_mode) == 0o600
        again, generated_again = ensure_secret_key(Settings(secret_key=None, data_dir=tmp_path / "var"))
        assert generated_again is None and again.secret_key == settings.secret_key

    def test_the_command_line_refuses_in_the_terminals_language(self, tmp_path):
        runner = CliRunner()
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}", "GENDAN_SECRET_KEY": "dev-secret-change-me",
               "LC_ALL": ""}
        zh = runner.invoke(cli, ["serve", "--port", "1"], env={**env, "LANG": "zh_CN.UTF-8"})
        assert zh.exit_code == 1
        assert "error: settings.secret_key_public" in zh.output and "任何人都能用它伪造登录" in zh.output
        en = runner.invoke(cli, ["worker", "--once"], env={**env, "LANG": "C.UTF-8"})
        assert en.exit_code == 1 and "anyone could forge sign-ins with it" in en.output

    def test_the_command_line_says_when_it_generated_a_key(self, tmp_path):
        runner = CliRunner()
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}", "GENDAN_DATA_DIR": str(tmp_path / "data"),
               "LC_ALL": "", "LANG": "zh_CN.UTF-8"}
        assert runner.invoke(cli, ["migrate"], env=env).exit_code == 0
        first = runner.invoke(cli, ["worker", "--once"], env=env)
        assert first.exit_code == 0, first.output
        assert f"已在 {tmp_path / 'data' / 'secret_key'} 生成密钥" in first.output
        second = runner.invoke(cli, ["worker", "--once"], env=env)
        assert second.exit_code == 0 and "生成密钥" not in second.output
