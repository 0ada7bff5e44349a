"""Settings of the `vendor` connector kind: a vendor template's fetch adapter (backend/connectors/
vendors/<key>.py) with its base URL, the vendor's plain options (account ids, app keys), and the
bounds every HTTP pull keeps (rate limit, retries, timeout, answer size, records and pages per run)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

OptionName = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vendor: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]
    base_url: Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://")]
    options: dict[OptionName, Annotated[str, Field(max_length=500)]] = Field(default_factory=dict, max_length=30)
    timezone: Annotated[str, Field(min_length=1, max_length=60)] = "Asia/Shanghai"  # of the vendor's times
    initial_since: Annotated[str, Field(max_length=40)] = ""  # empty: one day before the first run
    window_minutes: Annotated[int, Field(ge=1, le=10_080)] = 1440  # longest modified-time span per query
    page_size: Annotated[int, Field(ge=1, le=2000)] = 100
    rate_limit_per_second: Annotated[float, Field(gt=0, le=100)] = 5
    max_retries: Annotated[int, Field(ge=0, le=6)] = 3
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20
    max_response_bytes: Annotated[int, Field(ge=1000, le=50_000_000)] = 5_000_000
    max_records_per_run: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    max_pages_per_run: Annotated[int, Field(ge=1, le=10_000)] = 1000
