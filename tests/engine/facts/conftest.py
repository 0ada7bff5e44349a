import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from rules_db import db_fixture  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    yield from db_fixture(request)
