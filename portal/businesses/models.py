"""Businesses (doanh nghiệp, hộ kinh doanh) and the accounts that represent them."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class Business(SQLModel, table=True):
    """A business identified by its tax code (mã số thuế: 10 digits, or 13 for a dependent unit)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tax_code: str = Field(unique=True, index=True, max_length=14)  # digits only, 10 or 13
    name: str = Field(max_length=200)
    address: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(foreign_key="account.id", max_length=32)


class Representative(SQLModel, table=True):
    """An account allowed to act for a business."""

    business_id: str = Field(foreign_key="business.id", primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", primary_key=True, index=True, max_length=32)
    role: str = Field(default="representative", max_length=20)  # legal_representative | representative
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    added_by: str | None = Field(default=None, max_length=32)
