"""Partner API clients: back-office systems of agencies and postal operators (OAuth2 client credentials)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime

SCOPES = ("backoffice", "postal")


class ApiClient(SQLModel, table=True):
    """A machine that calls /api/v1 with a bearer token; bound to one agency or one postal operator."""

    id: str = Field(primary_key=True, max_length=64)  # the client_id
    name: str = Field(max_length=120)
    scope: str = Field(max_length=20)  # backoffice | postal
    agency_code: str | None = Field(default=None, foreign_key="agency.code", max_length=10)
    postal_operator: str | None = Field(default=None, max_length=40)
    # SHA-256 of a 256-bit random secret (a slow hash adds nothing for secrets with that much entropy).
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
