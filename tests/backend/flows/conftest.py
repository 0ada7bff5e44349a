import pytest

from backend.flows import messages, service_instance


@pytest.fixture(autouse=True)
def flows_installed():
    """What create_app does at start-up: timer appliers, order hooks, messages."""
    messages.register()
    service_instance.install()
