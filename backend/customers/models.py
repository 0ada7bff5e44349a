"""Customers and how to reach them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.models_base import UTCDateTime


class Customer(SQLModel, table=True):
    __tablename__ = "customer"

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, max_length=40, unique=True)
    name: str = Field(max_length=200, index=True)
    tier: str = Field(default="standard", max_length=20)  # key / standard / small
    region: str | None = Field(default=None, max_length=80)
    owner_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    contact_name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    dingtalk_id: str | None = Field(default=None, max_length=80)
    wecom_id: str | None = Field(default=None, max_length=80)
    preferred_locale: str = Field(default="zh_CN", max_length=10)
    preferred_channel: str = Field(default="email", max_length=20)  # email / sms / dingtalk / wecom / none
    is_unsubscribed: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)


class CustomerContact(SQLModel, table=True):
    """One person at a customer (revision contacts_0001). The primary contact is mirrored into the
    customer's own contact_name / email / phone / preferred_locale, which every sender reads, so
    customer messages go to the primary contact without each channel knowing about contacts."""

    __tablename__ = "customer_contact"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    role: str | None = Field(default=None, max_length=80)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    locale: str | None = Field(default=None, max_length=10)
    is_primary: bool = False
    position: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
