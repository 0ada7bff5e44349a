"""Import and inbound API shapes: ImportMapping, ImportRead, InboundSourceCreate/Read, DeliveryRead."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.connectors.transforms import Chain

STAGE_PATTERN = r"^[A-Za-z0-9_\-]+$"
Stage = Annotated[str, Field(min_length=1, max_length=40, pattern=STAGE_PATTERN)]
# core targets a column can fill; a target "data.<key>" fills a designed field
CORE_TARGETS = ("external_id", "number", "customer", "customer_code", "amount", "currency", "stage",
                "planned_delivery", "payment_due", "created")
DATA_KEY = r"^data\.[A-Za-z][A-Za-z0-9_]{0,62}$"


class HistoryPoint(BaseModel):
    """One declared history point: the order was at `stage` from the time in `column` on (history
    replay, engine/ingest/history.py). The first point of a mapping is the order's creation."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage
    column: Annotated[str, Field(min_length=1, max_length=200)]


class ImportMapping(BaseModel):
    """What the user confirmed: which column fills which order field, and how values translate."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, Annotated[str, Field(min_length=1, max_length=200)]] = Field(max_length=60)
    defaults: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict, max_length=20)
    stage_map: dict[Annotated[str, Field(max_length=100)], Stage] = Field(default_factory=dict, max_length=200)
    status_map: dict[Annotated[str, Field(max_length=100)], Literal["open", "completed", "cancelled"]] = Field(
        default_factory=dict, max_length=200)
    # for `data.<key>` targets no published form describes: how to read the cells (default text)
    data_types: dict[Annotated[str, Field(max_length=63)],
                     Literal["text", "number", "date", "datetime", "checkbox"]] = Field(
        default_factory=dict, max_length=60)
    # line-items fields (`data.<key>` filled from a list of objects): where each column is read inside
    # one item, {field key: {column key: path in the item}}; a column left out is read at its own key
    line_columns: dict[Annotated[str, Field(max_length=63)], Annotated[
        dict[Annotated[str, Field(max_length=63)], Annotated[str, Field(min_length=1, max_length=200)]],
        Field(max_length=30)]] = Field(default_factory=dict, max_length=10)
    create_customers: bool = False
    source: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")] = "csv"
    # "" (or left out): the installation's zone, written in when the import starts
    timezone: Annotated[str, Field(max_length=60)] = ""
    # history replay (backend/ingest/history.py): past stage changes with their own timestamps
    history: list[HistoryPoint] = Field(default_factory=list, max_length=20)
    # connectors and mapped webhooks: small transforms per order field, applied to the source value
    # before the row parser reads it (engine/connectors/transforms.py); the CSV import ignores them
    transforms: dict[Annotated[str, Field(max_length=70)], Chain] = Field(default_factory=dict, max_length=60)


class RowError(BaseModel):
    line: int  # line in the file (the header is line 1)
    column: str | None
    field: str
    code: str
    params: dict[str, Any] = Field(default_factory=dict)


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, Any] | None
    state: str
    total_rows: int
    next_row: int
    created_count: int
    existing_count: int
    updated_count: int = 0
    unchanged_count: int = 0
    failed_count: int
    created_by: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportPreview(BaseModel):
    job: ImportRead
    sample: list[list[str]]
    suggested: dict[str, str]


class InboundSourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    acts_as_id: int | None = None
    # a delivery naming an unknown `customer_code` creates that customer (name: `customer_name`)
    creates_customers: bool = False


class InboundSourceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    creates_customers: bool


SIGNATURE_SCHEMES = ("gendan", "hmac_sha256_hex", "hmac_sha256_base64", "dingtalk", "static_token")
_HEADER = r"^[A-Za-z0-9\-]*$"


class InboundSignature(BaseModel):
    """How the sender signs: Gendan's own scheme, an HMAC-SHA256 of the body in a header, DingTalk's
    signed timestamp in the query, or a static token header (weakest: it proves nothing about the body)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["gendan", "hmac_sha256_hex", "hmac_sha256_base64", "dingtalk", "static_token"] = "gendan"
    header: Annotated[str, Field(max_length=60, pattern=_HEADER)] = ""
    prefix: Annotated[str, Field(max_length=20)] = ""  # e.g. "sha256=" (GitHub)
    # set: the signed text is "<timestamp>.<body>" and a timestamp outside the tolerance is refused
    timestamp_header: Annotated[str, Field(max_length=60, pattern=_HEADER)] = ""
    tolerance: Annotated[int, Field(ge=10, le=86_400)] = 300


class InboundFormat(BaseModel):
    """A source's body format and signature scheme (PUT /inbound-sources/{id}/format)."""

    model_config = ConfigDict(extra="forbid")

    body_format: Literal["gendan", "mapped"] = "gendan"
    records_path: Annotated[str, Field(max_length=200)] = ""  # "" = the body itself (a list or one record)
    mapping: ImportMapping | None = None
    signature: InboundSignature = Field(default_factory=InboundSignature)
    # the sender's own secret (DingTalk, GitHub...): replaces the generated one; never listed
    secret: Annotated[str, Field(min_length=16, max_length=100)] | None = None


class InboundSourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    name: str
    acts_as_id: int
    is_active: bool
    creates_customers: bool = False
    body_format: str = "gendan"
    mapped: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    created_at: datetime


class InboundSourceCreated(InboundSourceRead):
    secret: str  # returned once, at creation


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_key: str
    received_at: datetime
    is_accepted: bool
    outcome: str
    code: str | None
    params: dict[str, Any] | None
    order_id: int | None
    external_id: str | None
    body_size: int


class InboundRecordResult(BaseModel):
    position: int  # 1-based place of the record in the body
    external_id: str | None
    outcome: Literal["created", "updated", "unchanged", "failed", "valid"]
    order_id: int | None = None
    number: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)  # a preview: the order the record would make
    errors: list[dict[str, Any]] = Field(default_factory=list)  # {field, path, code, message}


class MappedInboundResult(BaseModel):
    delivery_id: int | None
    records: list[InboundRecordResult]


class InboundPreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, Field(max_length=200_000)]
    settings: InboundFormat | None = None  # unsaved settings to try; else the source's saved ones


class InboundResult(BaseModel):
    delivery_id: int
    outcome: Literal["created", "updated", "unchanged"]
    order_id: int
    number: str
