"""A real server (uvicorn in a thread on 127.0.0.1) on a database of its own, committing for real:
load checks need real concurrency (threads, a pool, SQLite's write lock, PostgreSQL's row locks),
which the rolled-back `client` fixture cannot give. Its own database keeps the rows they commit
away from the other tests; tests using it still make uniquely named rows (they share it)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from backend.app import create_app
from backend.db import make_engine
from backend.pipeline_assembly import assemble
from backend.settings import Settings
from tests.conftest import make_test_database


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
        deadline = time.monotonic() + 120  # generous: a loaded machine starts it slowly
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def load_db_url(db_url, tmp_path_factory) -> str:
    """A fresh migrated database of the same kind as `db_url` (the test's parameter)."""
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    return make_test_database(kind, tmp_path_factory.mktemp("load"), label="load")


@pytest.fixture(scope="module")
def load_engine(load_db_url):
    engine = assemble(make_engine(load_db_url))  # the import thread writes orders through the pipeline
    yield engine
    engine.dispose()


@pytest.fixture
def live_url(load_db_url, load_engine) -> Iterator[str]:
    settings = Settings(DATABASE_URL=load_db_url, secret_key="live-test-secret", run_worker=False,
                        login_attempts_per_minute=5)
    with LiveServer(create_app(settings, engine=load_engine, start_worker=False)) as server:
        yield server.url
