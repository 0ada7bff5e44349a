"""A records path that reaches nothing (the source moved or renamed its list) is told apart from an
empty list, so a changed schema is an error and not a quiet run that reads nothing."""

import pytest

from engine.connectors.jsonpath import reaches


@pytest.mark.parametrize(("document", "path", "expected"), [
    ({"data": {"items": [{"id": 1}]}}, "data.items", True),
    ({"data": {"items": []}}, "data.items", True),
    ({"data": {"items": []}}, "data.items[*]", True),
    ({"data": {}}, "data.items[*]", False),
    ({"result": {"list": [1]}}, "data.items", False),
    ({"data": None}, "data.items", False),
    ([{"id": 1}], "[*]", True),
    ([], "[*]", True),
    ({"items": None}, "items[*]", False),
])
def test_reaches(document, path, expected):
    assert reaches(document, path) is expected
