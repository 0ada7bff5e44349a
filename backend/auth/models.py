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


class LoginThrottle(SQLModel, table=True):
    """Sign-in attempts per key (an account, a source address, or the pair), for rate limiting across
    server processes. One row per key, counted with conditional UPDATEs so that concurrent guesses
    cannot all read "under the limit" before any of them is recorded."""

    __tablename__ = "auth_login_throttle"

    key: str = Field(max_length=200, primary_key=True)  # user:<name> / client:<address> / pair:<name>|<address>
    attempts: int = 0  # in the current window: failures plus attempts still being checked
    window_started_at: datetime = Field(sa_type=UTCDateTime)
    strikes: int = 0  # lock-outs in a row: each doubles the next one (capped), forgotten after a quiet day
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthSession(SQLModel, table=True):
    """A browser sign-in. The cookie carries only this id (signed); signing out revokes the row, so a
    copied cookie stops working, and the user's token generation at sign-in must still be current."""

    __tablename__ = "auth_session"

    id: str = Field(max_length=64, primary_key=True)  # 256 random bits, url-safe
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_generation: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
