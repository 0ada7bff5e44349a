"""People: users, departments (the org chart), roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import UTCDateTime

ROLES = ("admin", "designer", "sales", "approver", "warehouse", "finance", "viewer")


class Department(SQLModel, table=True):
    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    parent_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    # department <-> user reference each other; the head's key is added after both tables exist
    head_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("app_user.id", use_alter=True, name="fk_department_head_id_app_user"), index=True),
    )


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    display_name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    password_hash: str = Field(max_length=255)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    locale: str | None = Field(default=None, max_length=10)
    is_active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    # bumped when a password, the roles or the active flag change (and on "sign out everywhere"):
    # bearer tokens and sessions carry the generation they were issued under and stop working
    token_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(max_length=20)
