"""Where each agency's back-office receives pushes, with which secrets; and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


class WebhookEndpoint(SQLModel, table=True):
    """One agency's receiving endpoint. `secrets` holds one `whsec_…` secret, or two during a rotation (the
    first signs as well as the second: a receiver accepts either)."""

    agency_code: str = Field(primary_key=True, max_length=10)
    url: str = Field(max_length=500)
    secrets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One try at delivering one message (what operators read when a receiver misbehaves)."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(index=True)  # the outbox message
    event_id: str = Field(max_length=40, index=True)  # the webhook-id header
    agency_code: str = Field(max_length=10, index=True)
    url: str = Field(max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    duration_ms: int = 0
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
