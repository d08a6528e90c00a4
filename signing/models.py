"""A citizen's signing credential: the certificate the portal's CA issued, and the one-time-code secret."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


class SigningCredential(SQLModel, table=True):
    """One per account: where its signing key lives (a signer plugin and a key reference) and its TOTP."""

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=32)
    signer: str = Field(default="pkcs12", max_length=20)  # the signer plugin id
    key_ref: str = Field(max_length=300)  # what the plugin needs to find the key (a file, a token label)
    cert_serial: str = Field(max_length=60)
    cert_not_after: datetime = Field(sa_type=UTCDateTime)
    # The TOTP secret, encrypted with a key derived from PORTAL_SECRET_KEY (Fernet).
    totp_secret: str = Field(max_length=300)
    totp_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_totp_step: int | None = None
    failed_codes: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
