"""Connector API shapes: the HTTP JSON pull settings, create/update/read, health and samples."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from backend.connectors.sql_settings import SqlPullSettings
from backend.connectors.vendor_settings import VendorSettings
from backend.ingest.schemas import ImportMapping

KINDS = ("http_json", "folder", "sql", "vendor")
Name = Annotated[str, Field(min_length=1, max_length=120)]
HeaderName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]
Path = Annotated[str, Field(max_length=200)]


class HttpJsonSettings(BaseModel):
    """What an HTTP JSON pull reads, and the bounds it keeps against a hostile source."""

    model_config = ConfigDict(extra="forbid")

    url_template: Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://")]
    headers: dict[HeaderName, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict, max_length=20)
    secret_header_name: HeaderName | None = None  # its value is a secret (e.g. Authorization)
    auth: Literal["none", "oauth2_client_credentials"] = "none"
    token_url: Annotated[str, Field(max_length=2000, pattern=r"^(https?://.*)?$")] = ""
    client_id: Annotated[str, Field(max_length=200)] = ""
    scope: Annotated[str, Field(max_length=500)] = ""
    paging: Literal["none", "page", "offset", "cursor", "next_link"] = "none"
    first_page: Annotated[int, Field(ge=0, le=1000)] = 1
    page_size: Annotated[int, Field(ge=0, le=10_000)] = 0
    next_cursor_path: Path = ""
    next_link_path: Path = ""
    records_path: Path = ""
    since_path: Path = ""  # the record's updated-at: the largest one read becomes {since}
    initial_since: Annotated[str, Field(max_length=40)] = ""
    rate_limit_per_second: Annotated[float, Field(gt=0, le=100)] = 5
    max_retries: Annotated[int, Field(ge=0, le=6)] = 3
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20
    max_response_bytes: Annotated[int, Field(ge=1000, le=50_000_000)] = 5_000_000
    max_records_per_run: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    max_pages_per_run: Annotated[int, Field(ge=1, le=10_000)] = 1000


class FolderSettings(BaseModel):
    """A watched folder (backend/connectors/folder.py): files matching `pattern` in `folder`, a path
    inside GENDAN_CONNECTOR_FOLDER_ROOT, each taken once and moved to done/ or failed/."""

    model_config = ConfigDict(extra="forbid")

    folder: Annotated[str, Field(min_length=1, max_length=500)]
    pattern: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^/\\\x00]+$")] = "*.csv"
    settle_seconds: Annotated[int, Field(ge=0, le=86_400)] = 10
    max_files_per_run: Annotated[int, Field(ge=1, le=1000)] = 20
    max_rows_per_file: Annotated[int, Field(ge=1, le=100_000)] = 10_000


def _settings_kind(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "sql" if isinstance(value, SqlPullSettings) else "folder" if isinstance(value, FolderSettings) \
            else "vendor" if isinstance(value, VendorSettings) else "http_json"
    if isinstance(value, dict) and "dialect" in value:
        return "sql"
    if isinstance(value, dict) and "vendor" in value:
        return "vendor"
    return "folder" if isinstance(value, dict) and "folder" in value else "http_json"


# a kind's settings, told apart by their own fields (the SQL pull's have a dialect, a folder's a folder)
AnySettings = Annotated[Annotated[HttpJsonSettings, Tag("http_json")] | Annotated[SqlPullSettings, Tag("sql")]
                        | Annotated[FolderSettings, Tag("folder")] | Annotated[VendorSettings, Tag("vendor")],
                        Discriminator(_settings_kind)]


def settings_kind(settings: BaseModel) -> str:
    return _settings_kind(settings)


class ConnectorSecrets(BaseModel):
    """Secrets as sent; None or "" keeps the saved value."""

    model_config = ConfigDict(extra="forbid")

    client_secret: Annotated[str, Field(max_length=2000)] | None = None
    secret_header_value: Annotated[str, Field(max_length=4000)] | None = None
    password: Annotated[str, Field(max_length=1000)] | None = None  # SQL pull, vendor logins
    app_secret: Annotated[str, Field(max_length=2000)] | None = None  # vendor templates
    access_token: Annotated[str, Field(max_length=4000)] | None = None  # vendor templates (session key)


class ConnectorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: Literal["http_json", "folder", "sql", "vendor"] = "http_json"
    settings: AnySettings
    secrets: ConnectorSecrets = Field(default_factory=ConnectorSecrets)
    mapping: ImportMapping
    schedule_minutes: Annotated[int, Field(ge=1, le=10_080)] | None = 5
    schedule_cron: Annotated[str, Field(max_length=100)] | None = None
    max_failures: Annotated[int, Field(ge=1, le=100)] = 5
    is_enabled: bool = True

    @field_validator("schedule_cron")
    @classmethod
    def _blank_cron(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _settings_of_kind(self) -> ConnectorCreate:
        if settings_kind(self.settings) != self.kind:
            raise ValueError(f"settings are not those of kind {self.kind}")
        return self


class ConnectorUpdate(BaseModel):
    """All optional; `version` is not kept (admins only, last write wins like other settings)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    settings: AnySettings | None = None
    secrets: ConnectorSecrets | None = None
    mapping: ImportMapping | None = None
    schedule_minutes: Annotated[int, Field(ge=1, le=10_080)] | None = None
    schedule_cron: Annotated[str, Field(max_length=100)] | None = None
    max_failures: Annotated[int, Field(ge=1, le=100)] | None = None
    is_enabled: bool | None = None


class ConnectorRead(BaseModel):
    """A connector without its secrets: only which secrets are saved."""

    id: int
    name: str
    kind: str
    owner_id: int
    is_enabled: bool
    paused_reason: str | None
    settings: dict[str, Any]
    saved_secrets: list[str]
    mapping: dict[str, Any]
    schedule_minutes: int | None
    schedule_cron: str | None
    cursor: dict[str, Any]
    max_failures: int
    failures_in_row: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_status: str | None
    last_error: dict[str, Any] | None
    last_error_message: str | None = None
    last_error_record: dict[str, Any] | None
    lag_seconds: int | None = None
    last_run: RunRead | None = None


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    read_count: int
    created_count: int
    updated_count: int
    unchanged_count: int
    failed_count: int
    error: dict[str, Any] | None


class RecordErrorRead(BaseModel):
    position: int
    run_id: int
    external_id: str | None
    record: Any
    errors: list[dict[str, Any]]
    messages: list[str]


class RereadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: date


class SampleRequest(BaseModel):
    """Fetch the first records with these settings (an existing connector's saved secrets when
    `connector_id` is given and a secret is left blank) and preview the orders they would make."""

    model_config = ConfigDict(extra="forbid")

    connector_id: int | None = None
    settings: AnySettings
    secrets: ConnectorSecrets = Field(default_factory=ConnectorSecrets)
    mapping: ImportMapping | None = None


class SqlTestRequest(BaseModel):
    """SQL pull: test these settings (an existing connector's saved password when left blank)."""

    model_config = ConfigDict(extra="forbid")

    connector_id: int | None = None
    settings: SqlPullSettings
    secrets: ConnectorSecrets = Field(default_factory=ConnectorSecrets)


class SqlTestRead(BaseModel):
    ok: bool = True
    order: str  # the order rows are read in, e.g. src.v_orders ORDER BY updated, code


class SamplePreview(BaseModel):
    position: int
    external_id: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    customer: str | None = None
    errors: list[str] = Field(default_factory=list)


class SampleRead(BaseModel):
    records: list[Any]
    paths: list[str]
    previews: list[SamplePreview]
    order: str | None = None  # SQL pull: the order rows are read in


ConnectorRead.model_rebuild()
