"""The `gendan` command line against a temporary SQLite database (and real processes for the
long-running commands: serve, worker)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from backend.auth.passwords import verify_password
from backend.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def gendan(db_url: str, *args: str, input: str | None = None, lang: str = "C.UTF-8"):
    return runner.invoke(app, list(args), input=input,
                         env={"DATABASE_URL": db_url, "LANG": lang, "LC_ALL": ""})


def query(db_url: str, sql: str, **params):
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


class TestMigrate:
    def test_creates_the_tables_and_is_repeatable(self, db_url):
        first = gendan(db_url, "migrate")
        assert first.exit_code == 0, first.output
        assert "database is up to date" in first.output
        tables = {r[0] for r in query(db_url, "select name from sqlite_master where type='table'")}
        assert {"sales_order", "order_event", "app_user", "department", "customer", "alembic_version"} <= tables
        again = gendan(db_url, "migrate")
        assert again.exit_code == 0, again.output

    def test_unreachable_database_is_a_coded_error(self):
        result = gendan("postgresql://nobody@127.0.0.1:1/nothing", "migrate")
        assert result.exit_code == 1
        assert "error: cli.database_unreachable" in result.output
        assert "Cannot reach the database postgresql://nobody@127.0.0.1:1/nothing" in result.output


class TestDemo:
    def test_needs_a_migrated_database(self, db_url):
        result = gendan(db_url, "demo", "--orders", "5")
        assert result.exit_code == 1
        assert "error: cli.database_not_migrated" in result.output
        assert "run `gendan migrate` first" in result.output

    def test_error_speaks_chinese_in_a_chinese_terminal(self, db_url):
        result = gendan(db_url, "demo", lang="zh_CN.UTF-8")
        assert result.exit_code == 1
        assert "error: cli.database_not_migrated" in result.output
        assert "请先运行 `gendan migrate`" in result.output

    def test_loads_once_and_prints_the_sign_ins(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        first = gendan(db_url, "demo", "--orders", "30")
        assert first.exit_code == 0, first.output
        assert "demo data loaded: 8 departments, 12 users, 200 customers, 30 orders" in first.output
        assert "password for all: gendan123" in first.output
        for username in ("admin", "manager.wang", "director.chen", "sales.zhang", "finance.sun", "tech.huang"):
            assert f"  {username} " in first.output
        second = gendan(db_url, "demo", "--orders", "30")
        assert second.exit_code == 0, second.output
        assert "already present; nothing loaded" in second.output
        assert query(db_url, "select count(*) from sales_order")[0][0] == 30

    def test_force_adds_a_batch(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        assert gendan(db_url, "demo", "--orders", "10").exit_code == 0
        forced = gendan(db_url, "demo", "--orders", "7", "--force")
        assert forced.exit_code == 0, forced.output
        assert query(db_url, "select count(*) from sales_order")[0][0] == 17

    def test_rejects_a_negative_count(self, db_url):
        result = gendan(db_url, "demo", "--orders", "-5")
        assert result.exit_code == 2
        assert "error: cli.invalid_count" in result.output
        assert "--orders must be between 0 and 1000000" in result.output


class TestUserCreate:
    def test_creates_a_user_with_roles(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        result = gendan(db_url, "user", "create", "boss", "--name", "The Boss", "--password", "long-secret-1",
                        "--role", "admin", "--role", "finance", "--email", "boss@example.com")
        assert result.exit_code == 0, result.output
        assert "created user boss" in result.output and "admin, finance" in result.output
        [(user_id, name, email, pw_hash)] = query(
            db_url, "select id, display_name, email, password_hash from app_user where username='boss'")
        assert (name, email) == ("The Boss", "boss@example.com")
        assert verify_password(pw_hash, "long-secret-1")
        roles = {r[0] for r in query(db_url, "select role from user_role where user_id=:u", u=user_id)}
        assert roles == {"admin", "finance"}

    def test_asks_for_the_password_twice(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        result = gendan(db_url, "user", "create", "ops", "--role", "warehouse", input="prompted-pw-9\nprompted-pw-9\n")
        assert result.exit_code == 0, result.output
        [(pw_hash,)] = query(db_url, "select password_hash from app_user where username='ops'")
        assert verify_password(pw_hash, "prompted-pw-9")

    def test_taken_username_is_a_coded_error(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        assert gendan(db_url, "user", "create", "dup", "--password", "long-secret-1").exit_code == 0
        again = gendan(db_url, "user", "create", "dup", "--password", "other-secret-2")
        assert again.exit_code == 1
        assert "error: user.username_taken" in again.output and "dup" in again.output
        assert query(db_url, "select count(*) from app_user where username='dup'")[0][0] == 1

    def test_bad_input_names_every_field(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        result = gendan(db_url, "user", "create", "x", "--password", "short", "--role", "pilot")
        assert result.exit_code == 2
        assert "error: validation.failed" in result.output
        assert "username: field.string_too_short" in result.output
        assert "password: field.string_too_short" in result.output
        assert "roles.0: field.literal_error" in result.output
        assert query(db_url, "select count(*) from app_user")[0][0] == 0


# How long a server may take to answer at all: generous, since the event that matters is that it answers
# (a loaded 2-core machine took over 30 s to import the app); a dead process fails at once.
STARTUP_BOUND = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db_url: str, *args: str) -> subprocess.Popen:
    # faulthandler: a process that must be killed first prints every thread's stack (SIGABRT)
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    env.pop("GENDAN_BASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "backend.cli.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # its threads' stacks into the output: where it hung
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    return out


class TestServe:
    def test_serves_the_sign_in_page_and_the_api(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        assert gendan(db_url, "demo", "--orders", "5").exit_code == 0
        port = _free_port()
        proc = _start(db_url, "serve", "--port", str(port))
        try:
            deadline = time.monotonic() + STARTUP_BOUND
            while True:
                try:
                    page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
            assert page.status_code == 200
            token = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token",
                               json={"username": "admin", "password": "gendan123"}, timeout=120)
            assert token.status_code == 200, token.text
            # the customer's tracking link points at this server, whatever --port said (GENDAN_BASE_URL unset)
            order_id = query(db_url, "select min(id) from sales_order")[0][0]
            link = httpx.post(f"http://127.0.0.1:{port}/api/v1/orders/{order_id}/tracking-link", timeout=120,
                              headers={"Authorization": f"Bearer {token.json()['access_token']}"})
            assert link.status_code == 200, link.text
            assert link.json()["url"].startswith(f"http://127.0.0.1:{port}/t/")
        finally:
            out = _stop(proc)
        assert f"Gendan on http://127.0.0.1:{port}" in out
        assert proc.returncode == 0, out

    def test_prepare_migrates_and_loads_the_demo_first(self, db_url):
        port = _free_port()
        proc = _start(db_url, "serve", "--prepare", "--no-worker", "--port", str(port))
        try:
            deadline = time.monotonic() + STARTUP_BOUND
            while True:
                try:
                    page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
            assert page.status_code == 200
        finally:
            out = _stop(proc)
        assert "database is up to date" in out
        assert "demo data loaded" in out and "password for all: gendan123" in out
        assert query(db_url, "select count(*) from sales_order")[0][0] == 3000

    def test_an_unset_base_url_follows_the_serve_options_and_warns_when_public(self, monkeypatch, capsys):
        from backend.cli.main import _derive_base_url
        from backend.settings import Settings

        # set (to "", i.e. unset) through monkeypatch, so whatever _derive_base_url writes into the
        # environment is taken back after this test instead of leaking into later ones
        monkeypatch.setenv("GENDAN_BASE_URL", "")
        local = Settings(base_url="")
        _derive_base_url(local, "127.0.0.1", 8123)
        assert local.base_url == os.environ["GENDAN_BASE_URL"] == "http://127.0.0.1:8123"
        assert Settings().public_base_url == "http://127.0.0.1:8123"  # what the worker's e-mails read
        assert "warning" not in capsys.readouterr().err
        public = Settings(base_url="")
        _derive_base_url(public, "0.0.0.0", 9000)
        assert public.base_url == "http://127.0.0.1:9000"
        assert "GENDAN_BASE_URL is not set" in capsys.readouterr().err

    def test_refuses_an_unmigrated_database(self, db_url):
        result = gendan(db_url, "serve", "--port", "1")
        assert result.exit_code == 1
        assert "error: cli.database_not_migrated" in result.output


class TestWorker:
    def test_once_runs_the_jobs_and_exits(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        result = gendan(db_url, "worker", "--once")
        assert result.exit_code == 0, result.output
        assert "worker ran" in result.output

    @pytest.mark.parametrize("how", ["SIGTERM", "SIGINT, started with it ignored and blocked"])
    def test_stops_cleanly_on_sigterm_and_on_a_sigint_its_parent_ignored(self, db_url, how):
        """`docker stop` / systemd send SIGTERM; a supervisor or test runner may start the worker with
        SIGINT ignored and blocked (inherited through fork and exec). Both stop it cleanly."""
        assert gendan(db_url, "migrate").exit_code == 0
        if how == "SIGTERM":
            proc, sent = _start(db_url, "worker"), signal.SIGTERM
        else:
            shield = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                      "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}); "
                      "os.execv(sys.executable, [sys.executable, '-m', 'backend.cli.main', 'worker'])")
            env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
            proc = subprocess.Popen([sys.executable, "-c", shield], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            sent = signal.SIGINT
        assert proc.stdout is not None
        assert "worker running" in proc.stdout.readline()
        proc.send_signal(sent)
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        assert proc.returncode == 0, out
        assert "worker stopped" in out

    def test_runs_until_interrupted(self, db_url):
        assert gendan(db_url, "migrate").exit_code == 0
        proc = _start(db_url, "worker")
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "worker running" in first, first
        out = _stop(proc)
        assert proc.returncode == 0, out
        assert "worker stopped" in out
