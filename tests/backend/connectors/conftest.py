from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from backend.auth.service import load_actor
from tests.backend.connectors.sql_sources import pg_source, sql_source  # noqa: F401 (fixtures)
from tests.factories.connector_source import Source
from tests.factories.people import make_user

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def connector_key(monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", KEY)
    return KEY


@pytest.fixture
def admin(session):
    user = make_user(session, roles=["admin"], locale="en")
    session.commit()
    return load_actor(session, user.id)


def records(n: int = 5, prefix: str = "CON-B") -> list[dict]:
    return [{"id": f"{prefix}{i}", "no": f"{prefix}{i}", "buyer": {"code": f"K{i % 2}", "name": f"买家{i % 2}"},
             "total": f"{1000 + i}.50", "status": "已签约", "updated": f"2026-11-2{i % 10} 10:00"}
            for i in range(1, n + 1)]


@pytest.fixture
def source():
    server = Source(records()).start()
    yield server
    server.stop()
