"""Accounts, the identities they sign in with, and their server-side sessions."""

from __future__ import annotations

from datetime import date, datetime
from uuid import uuid4

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class Account(SQLModel, table=True):
    """A person who signs in; dossiers belong to an account (or to a business it represents)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str | None = Field(default=None, unique=True, index=True, max_length=254)
    phone: str | None = Field(default=None, unique=True, index=True, max_length=20)
    # None for accounts that only ever signed in through the national SSO.
    password_hash: str | None = Field(default=None)
    full_name: str = Field(max_length=120)
    cccd: str | None = Field(default=None, max_length=12)
    birth_date: date | None = None
    address: str | None = Field(default=None, max_length=300)
    # Profile values as the identity provider last sent them (refreshed at each SSO sign-in).
    sso_email: str | None = Field(default=None, max_length=254)
    sso_phone: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    failed_signins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def profile(self) -> dict[str, str]:
        """Values that pre-fill forms."""
        out = {"full_name": self.full_name}
        email = self.email or self.sso_email
        phone = self.phone or self.sso_phone
        if email:
            out["email"] = email
        if phone:
            out["phone"] = phone
        if self.cccd:
            out["cccd"] = self.cccd
        if self.birth_date:
            out["birth_date"] = self.birth_date.isoformat()
        if self.address:
            out["address"] = self.address
        return out


class ExternalIdentity(SQLModel, table=True):
    """An OpenID Connect subject (issuer + sub) linked to an account."""

    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_identity_issuer_subject"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    issuer: str = Field(max_length=300)
    subject: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_signin_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; the table holds only its SHA-256."""

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the cookie token
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    method: str = Field(max_length=20)  # password | oidc
    assurance_level: int = 1
    acr: str | None = Field(default=None, max_length=100)
    # Kept for RP-initiated logout (id_token_hint); a signed assertion of the provider, not a credential.
    id_token: str | None = None
    acting_as: str | None = Field(default=None, max_length=32)  # a business id, or None for oneself
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
