"""The centre's and the agencies' staff: who may use the console at /staff, and their sessions.

A staff member signs in with a password (an account made by `portal staff add`) or through the OpenID
provider with a staff role claim, and always with a second factor (TOTP, RFC 6238). Staff are not citizens'
accounts: a citizen's session never opens the console and a staff session never files a dossier.
"""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class StaffRole(LabelledEnum):
    SUPERVISOR = "supervisor", N_("Supervisor of the centre (whole province)")
    OFFICER = "officer", N_("Agency officer")
    POSTAL = "postal", N_("Postal desk")


class StaffMember(SQLModel, table=True):
    """A person of the centre, of an agency or of the postal desk."""

    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_staff_oidc_subject"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(unique=True, index=True, max_length=80)
    full_name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(max_length=20)  # StaffRole
    agency_code: str | None = Field(default=None, max_length=10)  # an officer's agency
    postal_operator: str | None = Field(default=None, max_length=40)  # a postal desk's operator
    password_hash: str | None = None  # None: signs in through the OpenID provider only
    oidc_issuer: str | None = Field(default=None, max_length=300)
    oidc_subject: str | None = Field(default=None, max_length=255)
    # The TOTP secret, encrypted with the portal's secret key (Fernet); None until enrolled.
    totp_secret: str | None = Field(default=None, max_length=300)
    totp_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = None  # the last time step accepted: a code is never accepted twice
    active: bool = True
    failed_signins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_signin_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffSession(SQLModel, table=True):
    """A signed-in staff browser. The cookie holds a random token; the table its SHA-256.

    `stage` is "first_factor" after the password or the provider, "active" once the TOTP code was accepted:
    only an active session opens the console.
    """

    id: str = Field(primary_key=True, max_length=64)
    staff_id: str = Field(foreign_key="staffmember.id", index=True, max_length=32)
    method: str = Field(max_length=20)  # password | oidc
    stage: str = Field(default="first_factor", max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    second_factor_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
