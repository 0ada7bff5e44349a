"""API keys for integrations: shown once, stored as a hash, scoped."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.models_base import UTCDateTime


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    prefix: str = Field(max_length=16, index=True)  # first characters, shown in lists
    key_hash: str = Field(max_length=128, unique=True)  # sha256 of the whole key (keys are random, 256-bit)
    scope: str = Field(default="read", max_length=10)  # read / write
    user_id: int = Field(foreign_key="app_user.id", index=True)  # acts with this user's permissions
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """Failed sign-ins, for rate limiting across server processes."""

    __tablename__ = "auth_login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, index=True)  # username or client address
    at: datetime = Field(sa_type=UTCDateTime, index=True)
