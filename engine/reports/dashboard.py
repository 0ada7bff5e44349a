"""A dashboard definition: report tiles on a 12-column grid, and who it is shared with.

    {"schema_version": 1, "key": "sales_director", "name": {"zh": "…", "en": "…"},
     "tiles": [{"report": "stage_funnel", "x": 0, "y": 0, "w": 6, "h": 4}, ...],
     "shared_with": {"roles": ["sales"], "departments": [3]}}

Per-dashboard filters (date range, team, customer tier) are chosen by the reader and applied to
every tile on top of row-level access (backend/reports/dashboards.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.reports.definition import KEY

MAX_TILES = 24
GRID_COLUMNS = 12


class Tile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: str = Field(pattern=KEY)
    x: int = Field(default=0, ge=0, lt=GRID_COLUMNS)
    y: int = Field(default=0, ge=0, le=200)
    w: int = Field(default=6, ge=1, le=GRID_COLUMNS)
    h: int = Field(default=4, ge=2, le=12)


class Sharing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[str] = Field(default_factory=list, max_length=10)
    departments: list[int] = Field(default_factory=list, max_length=200)


class DashboardDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    key: str = Field(pattern=KEY)
    name: dict[str, str] = Field(default_factory=dict)
    tiles: list[Tile] = Field(default_factory=list, max_length=MAX_TILES)
    shared_with: Sharing = Field(default_factory=Sharing)


def load_dashboard(data: Any) -> DashboardDefinition:
    return DashboardDefinition.model_validate(data)
