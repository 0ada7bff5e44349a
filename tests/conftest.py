"""Test fixtures: databases (SQLite and PostgreSQL), rolled-back sessions, apps, clients, clock.

Every test that asks for `session`, `client` or `app` runs once on SQLite and once on PostgreSQL.
Each xdist worker gets its own database per backend, migrated once with `alembic upgrade heads`;
each test runs inside a transaction that is rolled back at the end (services' commits become
SAVEPOINT releases). PostgreSQL comes from GENDAN_TEST_PG_URL (default: the local server); its half
is skipped with a loud warning only when no server answers.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

import backend.models  # noqa: F401
from backend.app import create_app
from backend.db import make_engine, new_session
from backend.insight import process_map
from backend.installation import service as installation_service
from backend.migrate import upgrade
from backend.pipeline_assembly import assemble
from backend.settings import Settings

PG_URL = os.environ.get("GENDAN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FROZEN_NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Shanghai


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                               connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


_CREATED_PG_DATABASES: list[str] = []


def pytest_sessionfinish(session, exitstatus):
    """Drop the PostgreSQL databases this process made."""
    if not _CREATED_PG_DATABASES:
        return
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in _CREATED_PG_DATABASES:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def make_test_database(kind: str, tmp_root, label: str = "test") -> str:
    """A fresh, migrated database for this worker; returns its URL. `label` keeps a second database
    of the same worker (e.g. the load checks' own) apart from the session's."""
    if kind == "sqlite":
        path = tmp_root / f"gendan-{label}-{_worker()}.db"
        url = f"sqlite:///{path}"
    else:
        if not _pg_available():
            warnings.warn(f"PostgreSQL at {PG_URL} does not answer: PostgreSQL tests are SKIPPED", stacklevel=1)
            pytest.skip(f"no PostgreSQL server at {PG_URL}")
        # the process id keeps concurrent runs (two developers, CI and a developer) apart
        name = f"gendan_{label}_{_worker()}_{os.getpid()}"
        _CREATED_PG_DATABASES.append(name)
        admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory) -> str:
    return make_test_database(request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def engine(db_url):
    """The test database, carrying the standard order pipeline to every session opened on it."""
    eng = make_engine(db_url)
    yield assemble(eng)
    eng.dispose()


@pytest.fixture
def connection(engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction rolled back at the end; it carries the engine's standard
    order pipeline (a test that needs another one builds it: `pipeline.use(session, Pipeline(...))`)."""
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    if trans.is_active:
        trans.rollback()
    conn.close()


@pytest.fixture
def session(connection) -> Iterator[Session]:
    with new_session(connection) as s:
        yield s


@pytest.fixture(autouse=True)
def _forget_installation_calendar() -> Iterator[None]:
    """What a process remembers of the installation calendar (backend/installation/service.py)
    must not outlive the test whose rolled-back transaction saved it."""
    yield
    installation_service.forget()


@pytest.fixture(autouse=True)
def _forget_drawn_flows() -> Iterator[None]:
    """The published flows' drawing is cached by (key, version) (backend/insight/process_map.py): a
    rolled-back test's flow of the same key and version must not draw the next test's funnel."""
    yield
    process_map.DRAWN_CACHE.clear()


@pytest.fixture
def now() -> datetime:
    return FROZEN_NOW


@pytest.fixture
def settings(db_url) -> Settings:
    return Settings(DATABASE_URL=db_url, secret_key="test-secret", run_worker=False,
                    login_attempts_per_minute=5)


@pytest.fixture
def app(settings, connection):
    return create_app(settings, engine=connection, start_worker=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def login(client: TestClient, username: str, password: str = "password123") -> TestClient:
    """Sign a test client in through the real form (session cookie + CSRF token)."""
    page = client.get("/login")
    token = _csrf_from(page.text)
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": "/orders"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    client.headers["X-CSRF-Token"] = _csrf_from(client.get("/login").text)  # a new token at sign-in
    return client


def bearer(client: TestClient, username: str, password: str = "password123") -> dict[str, str]:
    resp = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
