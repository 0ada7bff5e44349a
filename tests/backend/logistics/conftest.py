from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from backend.auth.service import load_actor
from tests.factories.people import make_user
from tests.factories.tracking_source import TrackingServer

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def connector_key(monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", KEY)
    return KEY


@pytest.fixture
def admin(session):
    user = make_user(session, roles=["admin", "designer"], locale="en")
    session.commit()
    return load_actor(session, user.id)


@pytest.fixture
def server():
    s = TrackingServer().start()
    yield s
    s.stop()
