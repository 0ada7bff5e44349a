"""Customer API shapes: CustomerCreate, CustomerUpdate, CustomerRead, CustomerPage, CustomerFilter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["key", "standard", "small"]
Channel = Literal["email", "sms", "dingtalk", "wecom", "none"]
Locale = Literal["zh_CN", "en"]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Field(min_length=5, max_length=40, pattern=r"^\+?[0-9][0-9 ()\-]{3,38}[0-9]$")]
ChatId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.@\-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-./]+$")]


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    code: Code | None = None
    tier: Tier = "standard"
    region: Annotated[str, Field(max_length=80)] | None = None
    owner_id: int | None = None
    contact_name: Annotated[str, Field(max_length=120)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    dingtalk_id: ChatId | None = None
    wecom_id: ChatId | None = None
    preferred_locale: Locale = "zh_CN"
    preferred_channel: Channel = "email"
    is_unsubscribed: bool = False


class CustomerUpdate(BaseModel):
    """Every field optional; a field sent as null clears it (name, tier, locale, channel cannot be cleared)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    code: Code | None = None
    tier: Tier | None = None
    region: Annotated[str, Field(max_length=80)] | None = None
    owner_id: int | None = None
    contact_name: Annotated[str, Field(max_length=120)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    dingtalk_id: ChatId | None = None
    wecom_id: ChatId | None = None
    preferred_locale: Locale | None = None
    preferred_channel: Channel | None = None
    is_unsubscribed: bool | None = None


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    code: str | None
    tier: str
    region: str | None
    owner_id: int | None
    contact_name: str | None
    email: str | None
    phone: str | None
    dingtalk_id: str | None
    wecom_id: str | None
    preferred_locale: str
    preferred_channel: str
    is_unsubscribed: bool
    created_at: datetime


class ContactIn(BaseModel):
    """One contact of a customer as sent (the whole list is replaced at once)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=120)]
    role: Annotated[str, Field(max_length=80)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale | None = None
    is_primary: bool = False


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None  # None: the customer's own contact columns, not yet saved as a contact
    name: str
    role: str | None
    phone: str | None
    email: str | None
    locale: str | None
    is_primary: bool


class ContactList(BaseModel):
    contacts: Annotated[list[ContactIn], Field(max_length=100)]


class CustomerPage(BaseModel):
    items: list[CustomerRead]
    next_cursor: str | None
    total: int | None = None


class CustomerFilter(BaseModel):
    """Search on name, code, contact, email and phone; paged by keyset on (name, id)."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=100)
    owner_id: int | None = None
    tier: Tier | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=1200)  # a 200-character Chinese name fits
    with_total: bool = False
