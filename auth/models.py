"""Accounts of citizens (local sign-in for now)."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class Account(SQLModel, table=True):
    """A person who signs in; dossiers belong to an account."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str | None = Field(default=None, unique=True, index=True, max_length=254)
    phone: str | None = Field(default=None, unique=True, index=True, max_length=20)
    password_hash: str
    full_name: str = Field(max_length=120)
    cccd: str | None = Field(default=None, max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    failed_signins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def profile(self) -> dict[str, str]:
        """Values that pre-fill forms."""
        out = {"full_name": self.full_name}
        if self.email:
            out["email"] = self.email
        if self.phone:
            out["phone"] = self.phone
        if self.cccd:
            out["cccd"] = self.cccd
        return out
