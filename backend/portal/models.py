"""External parties (suppliers, carriers, customers acting on a node) and their portal links."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.models_base import UTCDateTime


class ExternalParty(SQLModel, table=True):
    """A company outside ours that acts on orders: a supplier, a carrier, or a customer (then
    `customer_id` names the customer record)."""

    __tablename__ = "external_party"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # supplier / carrier / customer
    name: str = Field(max_length=200)
    contact_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    locale: str = Field(default="zh_CN", max_length=10)
    customer_id: int | None = Field(default=None, foreign_key="customer.id")
    robot_channel_id: int | None = Field(default=None, foreign_key="notify_channel.id")
    """A chat robot (DingTalk / WeCom / Feishu channel of Admin → Channels) that hears their to-dos too."""
    is_active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)


class PortalLink(SQLModel, table=True):
    """A capability URL `/p/{token}`: 32 random bytes, bound to one party and, for an order link,
    one order and one flow node (`order_id`/`node_key` both None: the party's inbox link, which
    lists the party's orders waiting and opens only those). Expiring and revocable; the row is kept
    after revoking for the audit."""

    __tablename__ = "portal_link"

    id: int | None = Field(default=None, primary_key=True)
    party_id: int = Field(foreign_key="external_party.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="sales_order.id", index=True)
    node_key: str | None = Field(default=None, max_length=64)
    token: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PortalUser(SQLModel, table=True):
    """A person of an external company who signs in to the portal (`/portal/login`) and sees their
    company's orders: the same scoping as the company's inbox link."""

    __tablename__ = "portal_user"

    id: int | None = Field(default=None, primary_key=True)
    party_id: int = Field(foreign_key="external_party.id", index=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
