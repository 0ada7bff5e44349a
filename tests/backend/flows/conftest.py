import pytest

from backend.flows import service_instance


@pytest.fixture(autouse=True)
def flows_installed():
    """What create_app does at start-up: timer appliers, order hooks."""
    service_instance.install()
