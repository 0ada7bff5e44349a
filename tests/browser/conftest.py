"""Browser tests: a real server (uvicorn in a thread) on a migrated database, driven by Debian's
chromium through Playwright (`executable_path`, never a downloaded browser).

Data is committed for real (the server runs in its own thread with its own connections), so each
test makes its own users and orders with unique names through `seed` (factories + commit).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlmodel import Session

from backend.app import create_app
from backend.db import make_engine
from backend.pipeline_assembly import assemble
from backend.settings import Settings
from tests.conftest import make_test_database

CHROMIUM = os.environ.get("GENDAN_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    ws="websockets-sansio"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 120  # generous: a loaded machine starts it slowly
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_db_url(tmp_path_factory) -> str:
    return make_test_database("sqlite", tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="session")
def live_engine(live_db_url):
    """The live database, carrying the standard order pipeline (what the server's engine carries)."""
    engine = make_engine(live_db_url)
    yield assemble(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def live_server(live_db_url, live_engine) -> Iterator[LiveServer]:
    settings = Settings(DATABASE_URL=live_db_url, secret_key="browser-test-secret", run_worker=False,
                        login_attempts_per_minute=100)
    server = LiveServer(create_app(settings, engine=live_engine, start_worker=False), _free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def seed(live_engine) -> Iterator[Session]:
    """A session on the live database; call `seed.commit()` before the browser looks."""
    with Session(live_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"],
    }


@pytest.fixture
def page(page):
    """Playwright's page, failing the test when the browser refused a script under the
    Content-Security-Policy (an inline handler or script a template brought back, an eval)."""
    refused: list[str] = []
    page.on("console", lambda msg: refused.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    assert not refused, f"the page broke its Content-Security-Policy: {refused[:3]}"


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url


def wait_until(fn, timeout: float = 60):
    """`fn()`'s first truthy value, asked every half second for up to `timeout` seconds (a bound
    only a hang reaches: the machine is shared); its last value when time is up."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def sign_in(page, base_url: str, username: str, password: str = "password123") -> None:
    """Sign in through the real form, as a person would."""
    page.goto(f"{base_url}/login")
    page.get_by_label("User name").or_(page.get_by_label("用户名")).fill(username)
    page.get_by_label("Password").or_(page.get_by_label("密码")).fill(password)
    page.get_by_role("button", name="Sign in").or_(page.get_by_role("button", name="登录")).click()
    page.wait_for_url(lambda url: "/login" not in url)
