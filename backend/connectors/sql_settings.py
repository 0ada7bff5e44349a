"""SQL pull settings: a view or table and a cursor column over a read-only connection.

Names are identifiers (letters, digits, _; no quotes, spaces or semicolons): they are checked to
exist by reflection and quoted by SQLAlchemy, never pasted into SQL text."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = r"^[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_$\u4e00-\u9fff]{0,62}$"
Identifier = Annotated[str, Field(min_length=1, max_length=63, pattern=IDENTIFIER)]
OptionalIdentifier = Annotated[str, Field(max_length=63, pattern=r"^$|" + IDENTIFIER[1:-1] + "$")]
DIALECTS = ("postgresql", "mysql", "mssql")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


class SqlPullSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dialect: Literal["postgresql", "mysql", "mssql"]
    host: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:_\[\]-]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    database: Identifier
    user: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f'\"\\;]+$")]
    schema_name: OptionalIdentifier = ""
    table: Identifier
    cursor_column: Identifier
    key_column: OptionalIdentifier = ""
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 500
    max_records_per_run: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    connect_timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 10
    statement_timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 30
