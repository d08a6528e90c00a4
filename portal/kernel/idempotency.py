"""Idempotency keys of partner POSTs: the first answer to a key is kept and replayed (see portal.api)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


class IdempotencyRecord(SQLModel, table=True):
    """The answer given to one client's first request with one `Idempotency-Key`."""

    principal: str = Field(primary_key=True, max_length=80)  # who sent it (a partner client id)
    key: str = Field(primary_key=True, max_length=255)
    method: str = Field(max_length=10)
    path: str = Field(max_length=300)
    request_hash: str = Field(max_length=64)  # SHA-256 of the method, path and body
    status_code: int
    body: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    content_type: str = Field(default="application/json", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
