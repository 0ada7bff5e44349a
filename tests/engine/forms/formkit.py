"""Loading the form definitions under tests/engine/data/forms (shared by the form tests)."""

import json
from pathlib import Path

from engine.forms import FormDefinition, parse_definition

DATA = Path(__file__).resolve().parent.parent / "data" / "forms"


def load_raw(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def load(name: str) -> FormDefinition:
    return parse_definition(load_raw(name))
