import pytest
from rules_db import db_fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    yield from db_fixture(request)
