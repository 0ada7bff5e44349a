"""The SQL pieces the rule compiler emits that differ between SQLite and PostgreSQL.

Each renders the same answer on both databases (the differential tests hold them to the
evaluator): code point order, dates as ISO text, substring tests, min/max of several numbers,
tests on JSON arrays, and designed-text equality through JSONB where the column is JSONB.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from engine.facts.dialect import dialect_function
from engine.facts.sql import is_jsonb_column

__all__ = ["Binary", "Contains", "DateText", "Extreme", "JsonArray", "JsonTextEquals", "PgOrElse"]


Binary = dialect_function(
    "Binary", String(), doc='Strings compared by code point: PostgreSQL needs COLLATE "C".',
    default="{0}", postgresql='({0} COLLATE "C")',
)
DateText = dialect_function(
    "DateText", String(), doc="A date column as ISO text 'YYYY-MM-DD' (SQLite already stores it so).",
    default="{0}", postgresql="to_char({0}, 'YYYY-MM-DD')",
)
Contains = dialect_function(
    "Contains", Boolean(), doc="haystack contains needle as a substring (both text, non-null).",
    default="(instr({0}, {1}) > 0)", postgresql="(strpos({0}, {1}) > 0)",
)


class Extreme(FunctionElement):
    """min/max of several numbers: SQLite's scalar min()/max(), PostgreSQL's LEAST/GREATEST."""

    type = Float()
    inherit_cache = False  # rendering depends on an attribute, not only on the clauses: never cache
    name = "extreme"

    def __init__(self, pick: str, *args: ColumnElement[Any]) -> None:
        self.pick = pick
        super().__init__(*args)


@compiles(Extreme)
def _extreme_sqlite(element, compiler, **kw):
    args = ", ".join(compiler.process(c, **kw) for c in element.clauses)
    return f"{element.pick}({args})"


@compiles(Extreme, "postgresql")
def _extreme_pg(element, compiler, **kw):
    args = ", ".join(compiler.process(c, **kw) for c in element.clauses)
    return f"{'LEAST' if element.pick == 'min' else 'GREATEST'}({args})"


class JsonArray(FunctionElement):
    """Tests on a JSON column holding a list: is it an array / is it non-empty / holds a string."""

    type = Boolean()
    inherit_cache = False  # rendering depends on an attribute, not only on the clauses: never cache
    name = "json_array_test"

    def __init__(self, test: str, column: ColumnElement[Any], *args: ColumnElement[Any]) -> None:
        self.test = test
        super().__init__(column, *args)


@compiles(JsonArray)
def _json_array_sqlite(element, compiler, **kw):
    column, *rest = (compiler.process(c, **kw) for c in element.clauses)
    if element.test == "is_array":
        return f"(coalesce(json_type({column}), '') = 'array')"
    if element.test == "non_empty":
        return f"(json_array_length({column}) > 0)"
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE type = 'text' AND value = {rest[0]})"


@compiles(JsonArray, "postgresql")
def _json_array_pg(element, compiler, **kw):
    column_el = list(element.clauses)[0]
    column, *rest = (compiler.process(c, **kw) for c in element.clauses)
    prefix = "jsonb" if is_jsonb_column(column_el, compiler.dialect) else "json"
    if element.test == "is_array":
        return f"(coalesce({prefix}_typeof({column}), '') = 'array')"
    if element.test == "non_empty":
        return f"({prefix}_array_length({column}) > 0)"
    return (
        f"EXISTS (SELECT 1 FROM {prefix}_array_elements({column}) AS e(v) "
        f"WHERE {prefix}_typeof(e.v) = 'string' AND ({prefix}_build_array(e.v) ->> 0) = {rest[0]})"
    )


class PgOrElse(FunctionElement):
    """Two renderings of one boolean: the first on PostgreSQL, the second elsewhere (both exact)."""

    type = Boolean()
    inherit_cache = True
    name = "pg_or_else"


@compiles(PgOrElse)
def _pg_or_else_default(element, compiler, **kw):
    _pg, other = element.clauses
    return f"({compiler.process(other, **kw)})"


@compiles(PgOrElse, "postgresql")
def _pg_or_else_pg(element, compiler, **kw):
    pg, _other = element.clauses
    return f"({compiler.process(pg, **kw)})"


class JsonTextEquals(FunctionElement):
    """data -> key equals a JSON string given as JSON text (never NULL); the fallback where data is
    not JSONB."""

    type = Boolean()
    inherit_cache = True
    name = "json_text_equals"


@compiles(JsonTextEquals)
def _json_text_equals_default(element, compiler, **kw):
    *_parts, fallback = element.clauses
    return f"({compiler.process(fallback, **kw)})"


@compiles(JsonTextEquals, "postgresql")
def _json_text_equals_pg(element, compiler, **kw):
    data_column, key, text, fallback = element.clauses
    if not is_jsonb_column(data_column, compiler.dialect):
        return f"({compiler.process(fallback, **kw)})"
    data, key, text = (compiler.process(c, **kw) for c in (data_column, key, text))
    return f"coalesce(({data} -> {key}) = CAST({text} AS JSONB), false)"
