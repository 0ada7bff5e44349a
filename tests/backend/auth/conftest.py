"""A real server (uvicorn in a thread on 127.0.0.1) on the worker's database, committing for real:
load checks need real concurrency (threads, a pool, SQLite's write lock, PostgreSQL's row locks),
which the rolled-back `client` fixture cannot give. Tests using it make uniquely named rows."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from backend.app import create_app
from backend.settings import Settings


class LiveServer:
    def __init__(self, app):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live_url(db_url, engine) -> Iterator[str]:
    settings = Settings(DATABASE_URL=db_url, secret_key="live-test-secret", run_worker=False,
                        login_attempts_per_minute=5)
    with LiveServer(create_app(settings, engine=engine, start_worker=False)) as server:
        yield server.url
