"""Local accounts: sign-up and password sign-in with argon2 and a lockout backoff."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from auth.models import Account
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import DomainError, Invalid
from portal.kernel.i18n import N_

_hasher = PasswordHasher()
# A real hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^0(3|5|7|8|9)\d{8}$")
MIN_PASSWORD = 10
LOCK_AFTER = 5


class SignInFailed(DomainError):
    status_code = 401


@dataclass(frozen=True)
class SignupErrors:
    """Field errors of the sign-up form, as msgids."""

    errors: dict[str, str]


def normalise_login(value: str) -> tuple[str | None, str | None]:
    """Split what the person typed into (email, phone); both None when it is neither."""
    value = value.strip()
    if "@" in value:
        email = value.lower()
        return (email, None) if EMAIL_RE.match(email) and len(email) <= 254 else (None, None)
    digits = re.sub(r"[\s.\-]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return (None, digits) if PHONE_RE.match(digits) else (None, None)


def check_signup(*, login: str, full_name: str, password: str, password2: str) -> dict[str, str]:
    """Validate the sign-up form; returns field -> msgid."""
    errors: dict[str, str] = {}
    email, phone = normalise_login(login)
    if not (email or phone):
        errors["login"] = N_("Enter a valid email address or Vietnamese mobile number.")
    name = " ".join(full_name.split())
    if not name:
        errors["full_name"] = N_("Enter your full name.")
    elif len(name) > 120:
        errors["full_name"] = N_("The name is too long.")
    if len(password) < MIN_PASSWORD:
        errors["password"] = N_("The password must have at least 10 characters.")
    elif len(password) > 256:
        errors["password"] = N_("The password is too long.")
    if password != password2:
        errors["password2"] = N_("The two passwords do not match.")
    return errors


def create_account(*, session: Session, login: str, full_name: str, password: str) -> Account:
    """Create a local account; the login must be free."""
    email, phone = normalise_login(login)
    if not (email or phone):
        raise Invalid(N_("Enter a valid email address or Vietnamese mobile number."))
    clash = select(Account).where(Account.email == email) if email else select(Account).where(Account.phone == phone)
    if session.exec(clash).first():
        raise DomainError(N_("An account with this email or phone number already exists."), status_code=409)
    account = Account(
        email=email, phone=phone, full_name=" ".join(full_name.split()), password_hash=_hasher.hash(password)
    )
    session.add(account)
    session.flush()
    return account


def authenticate(*, session: Session, login: str, password: str) -> Account:
    """Return the account for these credentials, counting failures and locking with backoff."""
    email, phone = normalise_login(login)
    account = None
    if email:
        account = session.exec(select(Account).where(Account.email == email)).first()
    elif phone:
        account = session.exec(select(Account).where(Account.phone == phone)).first()
    if account is None or account.password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password[:256])
        raise SignInFailed(N_("The email/phone number or password is not correct."))
    now = utcnow()
    if account.locked_until and as_utc(account.locked_until) > now:
        minutes = int((as_utc(account.locked_until) - now).total_seconds() // 60) + 1
        raise SignInFailed(
            N_("Too many failed attempts. Try again in {minutes} minutes."), {"minutes": minutes}, status_code=429
        )
    try:
        _hasher.verify(account.password_hash, password[:256])
    except (VerificationError, InvalidHashError):
        account.failed_signins += 1
        if account.failed_signins >= LOCK_AFTER:
            backoff = 2 ** min(account.failed_signins - LOCK_AFTER, 6)
            account.locked_until = now + timedelta(minutes=backoff)
        session.add(account)
        session.flush()
        raise SignInFailed(N_("The email/phone number or password is not correct.")) from None
    account.failed_signins = 0
    account.locked_until = None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    session.add(account)
    session.flush()
    return account
