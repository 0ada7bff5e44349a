import pytest
from formkit import load

from engine.forms import FormDefinition


@pytest.fixture
def every_type() -> FormDefinition:
    return load("every_type")


@pytest.fixture
def conditional() -> FormDefinition:
    return load("conditional")
