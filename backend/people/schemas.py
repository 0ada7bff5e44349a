"""People API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "designer", "sales", "approver", "warehouse", "finance", "viewer"]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
    display_name: Annotated[str, Field(min_length=1, max_length=120)]
    password: Annotated[str, Field(min_length=8, max_length=200)]
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    department_id: int | None = None
    roles: list[Role] = Field(default_factory=list)
    locale: Literal["zh_CN", "en"] | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    department_id: int | None = None
    roles: list[Role] | None = None
    locale: Literal["zh_CN", "en"] | None = None
    is_active: bool | None = None
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    email: str | None
    phone: str | None
    department_id: int | None
    locale: str | None
    is_active: bool
    roles: list[str] = Field(default_factory=list)
    created_at: datetime


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=120)]
    parent_id: int | None = None
    head_id: int | None = None


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    parent_id: int | None = None
    head_id: int | None = None


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    parent_id: int | None
    head_id: int | None
