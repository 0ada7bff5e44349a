import pytest

from backend.flows import messages


@pytest.fixture(autouse=True)
def flows_messages():
    """What create_app does at start-up for flows' error messages (the pipeline comes with the
    `connection` fixture)."""
    messages.register()
