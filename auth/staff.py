"""Staff sign-in for the console: passwords (argon2), TOTP second factor (RFC 6238), sessions, the OIDC role claim.

A staff member signs in with a password (an account made by `portal staff add`) or through the OpenID provider
with a role claim (`settings.staff_role_claim`), then always with a TOTP code. The browser holds a random token
in its own cookie (`staff_session`, path /staff); the table holds its SHA-256. A session opens the console only
once its second factor was accepted (`stage` "active"). docs/STAFF.md.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
import segno
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from auth.service import _DUMMY_HASH, _hasher  # the citizens' argon2 parameters, one hasher for the portal
from auth.sessions import token_hash
from auth.staff_models import StaffMember, StaffRole, StaffSession
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import DomainError, Invalid
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings

COOKIE_NAME = "staff_session"
COOKIE_PATH = "/staff"
MIN_PASSWORD = 12
LOCK_AFTER = 5
TOTP_DIGITS = 6
TOTP_PERIOD = 30
TOTP_WINDOW = 1  # one step before or after: a phone's clock may be half a minute off
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
# The demo staff of `make run` (portal/demo.py): their passwords and TOTP keys are public, so they never sign
# in outside development.
DEMO_USERNAMES = frozenset({"giamsat", "canbo.ubxa"})


class StaffSignInFailed(DomainError):
    """A refused staff sign-in step (password, provider claim, TOTP code); the page says why."""

    status_code = 401


@dataclass(frozen=True)
class RoleClaim:
    """What the provider's staff claim (or the CLI) says a member may do."""

    role: StaffRole
    agency_code: str | None = None
    postal_operator: str | None = None


# --- accounts ------------------------------------------------------------------------------------------------


def check_role(role: str, agency_code: str | None, postal_operator: str | None) -> RoleClaim:
    """A role with what it needs: an officer has an agency, a postal desk an operator, a supervisor neither."""
    try:
        kind = StaffRole(role)
    except ValueError:
        raise Invalid(N_("Unknown staff role {role}."), {"role": role}) from None
    agency = (agency_code or "").strip().upper() or None
    operator = (postal_operator or "").strip() or None
    if kind is StaffRole.OFFICER:
        if agency is None or not CODE_RE.match(agency) or len(agency) > 10:
            raise Invalid(N_("An agency officer needs the agency's code (e.g. UBXA)."))
        return RoleClaim(kind, agency_code=agency)
    if kind is StaffRole.POSTAL:
        if operator is None or not CODE_RE.match(operator.upper()):
            raise Invalid(N_("A postal desk needs the postal operator's code (e.g. vnpost)."))
        return RoleClaim(kind, postal_operator=operator)
    if agency or operator:
        raise Invalid(N_("A supervisor of the centre sees every agency: give no agency or operator."))
    return RoleClaim(kind)


def parse_role_claim(value: Any) -> RoleClaim:
    """The provider's staff claim: "supervisor", "officer:<agency code>" or "postal:<operator>"."""
    if not isinstance(value, str) or not value.strip():
        raise StaffSignInFailed(
            N_("Your account at the identity provider is not a staff account of this portal (no staff role)."),
            status_code=403,
        )
    role, _, scope = value.strip().partition(":")
    try:
        if role == StaffRole.OFFICER:
            return check_role(role, scope, None)
        if role == StaffRole.POSTAL:
            return check_role(role, None, scope)
        return check_role(role, None, None) if not scope else check_role(role, scope, None)
    except Invalid:
        raise StaffSignInFailed(
            N_("The staff role given by the identity provider is not understood ({claim})."),
            {"claim": value[:80]},
            status_code=403,
        ) from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(N_("A staff password needs at least 12 characters."))
    if len(password) > 256:
        raise Invalid(N_("The password is too long."))


def create_member(
    session: Session,
    *,
    username: str,
    full_name: str,
    role: str,
    agency_code: str | None = None,
    postal_operator: str | None = None,
    email: str | None = None,
    password: str,
) -> StaffMember:
    """A staff member who signs in with a password; the TOTP is enrolled at the first sign-in."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise Invalid(N_("A username has 3 to 80 characters: lower-case letters, digits, dot, dash, underscore."))
    name = " ".join(full_name.split())
    if not name or len(name) > 120:
        raise Invalid(N_("Give the person's full name (at most 120 characters)."))
    claim = check_role(role, agency_code, postal_operator)
    check_password(password)
    if session.exec(select(StaffMember).where(StaffMember.username == username)).first() is not None:
        raise DomainError(N_("A staff member with this username already exists."), status_code=409)
    member = StaffMember(
        username=username,
        full_name=name,
        email=(email or "").strip().lower() or None,
        role=claim.role.value,
        agency_code=claim.agency_code,
        postal_operator=claim.postal_operator,
        password_hash=_hasher.hash(password),
    )
    session.add(member)
    session.flush()
    return member


def set_password(session: Session, member: StaffMember, password: str) -> None:
    """A new password; the member's sessions end and the lock is lifted."""
    check_password(password)
    member.password_hash = _hasher.hash(password)
    member.failed_signins = 0
    member.locked_until = None
    session.add(member)
    revoke_all(session, member.id)
    session.flush()


def reset_totp(session: Session, member: StaffMember) -> None:
    """Forget the second factor: the next sign-in enrols a new one; the member's sessions end."""
    member.totp_secret = None
    member.totp_confirmed_at = None
    member.totp_last_step = None
    session.add(member)
    revoke_all(session, member.id)
    session.flush()


def disable(session: Session, member: StaffMember) -> None:
    """The member can no longer sign in (also through the provider); their sessions end."""
    member.active = False
    session.add(member)
    revoke_all(session, member.id)
    session.flush()


def find_member(session: Session, username: str) -> StaffMember | None:
    return session.exec(select(StaffMember).where(StaffMember.username == username.strip().lower())).first()


def display_name(member: StaffMember) -> str:
    """How the member is named in audit events and on the console: "Nguyễn Văn A (UBXA)"."""
    scope = member.agency_code or member.postal_operator
    return f"{member.full_name} ({scope})" if scope else member.full_name


def _locked_minutes(member: StaffMember, now: datetime) -> int | None:
    if member.locked_until and as_utc(member.locked_until) > now:
        return int((as_utc(member.locked_until) - now).total_seconds() // 60) + 1
    return None


def authenticate(session: Session, *, username: str, password: str) -> StaffMember:
    """The member for these credentials, counting failures and locking with a backoff (as citizens' sign-in)."""
    member = find_member(session, username) if username.strip() else None
    refused = StaffSignInFailed(N_("The username or password is not correct."))
    if member is None or member.password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password[:256])
        raise refused
    now = utcnow()
    minutes = _locked_minutes(member, now)
    if minutes is not None:
        raise StaffSignInFailed(
            N_("Too many failed attempts. Try again in {minutes} minutes."), {"minutes": minutes}, status_code=429
        )
    try:
        _hasher.verify(member.password_hash, password[:256])
    except (VerificationError, InvalidHashError):
        member.failed_signins += 1
        if member.failed_signins >= LOCK_AFTER:
            member.locked_until = now + timedelta(minutes=2 ** min(member.failed_signins - LOCK_AFTER, 6))
        session.add(member)
        session.flush()
        raise refused from None
    if not member.active:
        raise StaffSignInFailed(N_("This staff account is disabled."), status_code=403)
    member.failed_signins = 0
    member.locked_until = None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = _hasher.hash(password)
    session.add(member)
    session.flush()
    return member


def member_for_provider(
    session: Session, *, issuer: str, subject: str, claims: dict[str, Any], settings: Settings
) -> StaffMember:
    """The member of this provider identity, made or updated from its staff claim; a disabled one stays disabled."""
    claim = parse_role_claim(claims.get(settings.staff_role_claim))
    member = session.exec(
        select(StaffMember).where(StaffMember.oidc_issuer == issuer, StaffMember.oidc_subject == subject)
    ).first()
    name = " ".join(str(claims.get("name") or "").split())[:120] or subject[:120]
    if member is None:
        digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:16]
        member = StaffMember(
            username=f"oidc-{digest}", full_name=name, oidc_issuer=issuer, oidc_subject=subject, role=claim.role
        )
    member.full_name = name
    member.role = claim.role.value
    member.agency_code = claim.agency_code
    member.postal_operator = claim.postal_operator
    email = str(claims.get("email") or "").strip().lower()
    if email and len(email) <= 254:
        member.email = email
    session.add(member)
    session.flush()
    if not member.active:
        raise StaffSignInFailed(N_("This staff account is disabled."), status_code=403)
    return member


# --- the second factor -----------------------------------------------------------------------------------------


def _fernet(settings: Settings) -> Fernet:
    key = hmac.new(settings.secret_key.encode(), b"staff:totp-secret", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def open_secret(settings: Settings, sealed: str) -> str | None:
    """The member's TOTP secret, or None when it cannot be read (the portal's secret key changed)."""
    try:
        return _fernet(settings).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def begin_enrolment(session: Session, member: StaffMember, settings: Settings) -> str:
    """The secret the member is enrolling (made now, kept sealed until a code confirms it)."""
    secret = open_secret(settings, member.totp_secret) if member.totp_secret else None
    if secret is None:
        secret = pyotp.random_base32()
        member.totp_secret = seal_secret(settings, secret)
        member.totp_confirmed_at = None
        member.totp_last_step = None
        session.add(member)
        session.flush()
    return secret


def provisioning_uri(member: StaffMember, secret: str, settings: Settings) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=member.username, issuer_name=settings.staff_totp_issuer
    )


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code (no script, no style attribute: the CSP stays strict)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2, omitsize=False, svgclass="totp-qr"))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TOTP_PERIOD)


def verify_code(
    session: Session, member: StaffMember, code: str, settings: Settings, *, now: float | None = None
) -> None:
    """Accept a 6-digit code of this or a neighbouring time step, once; raise StaffSignInFailed otherwise."""
    code = re.sub(r"\s", "", code)
    if not (code.isascii() and code.isdigit() and len(code) == TOTP_DIGITS):
        raise StaffSignInFailed(N_("Enter the 6 digits shown by your authenticator app."), status_code=422)
    secret = open_secret(settings, member.totp_secret) if member.totp_secret else None
    if secret is None:
        raise StaffSignInFailed(N_("Your second factor must be set up again. Ask the centre's administrator."))
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    here = current_step(now)
    matched = next(
        (
            step
            for step in range(here - TOTP_WINDOW, here + TOTP_WINDOW + 1)
            if hmac.compare_digest(totp.generate_otp(step), code)
        ),
        None,
    )
    if matched is None:
        raise StaffSignInFailed(N_("This code is not correct. Check the time on your phone and try again."))
    replayed = StaffSignInFailed(N_("This code was already used (replayed). Wait for the next code."))
    if member.totp_last_step is not None and matched <= member.totp_last_step:
        raise replayed
    # Claimed by a conditional update, not read then written: two requests sending the same code at once (two
    # browsers, or a replay racing the member) find one of them refused, on PostgreSQL too.
    claimed = session.execute(
        update(StaffMember)
        .where(
            col(StaffMember.id) == member.id,
            or_(col(StaffMember.totp_last_step).is_(None), col(StaffMember.totp_last_step) < matched),
        )
        .values(totp_last_step=matched)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise replayed
    member.totp_last_step = matched
    if member.totp_confirmed_at is None:
        member.totp_confirmed_at = utcnow()
    session.add(member)
    session.flush()


# --- sessions ------------------------------------------------------------------------------------------------


def start_session(
    session: Session, member: StaffMember, *, method: str, settings: Settings
) -> tuple[str, StaffSession]:
    """A new first-factor session; returns the cookie's token and the row."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = StaffSession(
        id=token_hash(token),
        staff_id=member.id,
        method=method,
        created_at=now,
        expires_at=now + timedelta(hours=settings.staff_session_hours),
    )
    session.add(row)
    session.flush()
    return token, row


def session_row(session: Session, token: str | None) -> StaffSession | None:
    """The live session of this token (either stage), or None when unknown, revoked or expired."""
    if not token or len(token) > 200:
        return None
    row = session.get(StaffSession, token_hash(token))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utcnow():
        return None
    return row


def activate(session: Session, row: StaffSession) -> None:
    row.stage = "active"
    row.second_factor_at = utcnow()
    session.add(row)
    session.flush()


def revoke(session: Session, row: StaffSession) -> None:
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()


def revoke_all(session: Session, staff_id: str) -> None:
    session.execute(
        update(StaffSession)
        .where(col(StaffSession.staff_id) == staff_id, col(StaffSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
