"""Facts seen by rules: the catalogue, the Python rendering and the SQL rendering."""

from engine.facts.catalogue import (
    CORE_COLUMNS,
    Catalogue,
    FactContext,
    FactType,
    FieldSpec,
    build_facts,
    default_catalogue,
    derived_value,
    epoch_seconds,
    fact_type_for_form_field,
)
from engine.facts.sql import UnknownFact, fact_sql

__all__ = [
    "CORE_COLUMNS",
    "Catalogue",
    "FactContext",
    "FactType",
    "FieldSpec",
    "UnknownFact",
    "build_facts",
    "default_catalogue",
    "derived_value",
    "epoch_seconds",
    "fact_sql",
    "fact_type_for_form_field",
]
