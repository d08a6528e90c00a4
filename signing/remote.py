"""Remote signing: the citizen's key is kept by the portal's signer (a PKCS#12 file in the embedded
default, a PKCS#11 token or a CA's service elsewhere) and each signature is confirmed by a one-time code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import FastAPI
from sqlmodel import Session

from auth.models import Account
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import DomainError
from portal.kernel.ratelimit import check
from portal.kernel.settings import Settings
from signing import otp
from signing.models import SigningCredential
from signing.signers import Pkcs12Options, Pkcs12Plugin, SignerError

MAX_WRONG_CODES = 5
LOCK_MINUTES = 5
RENEW_BEFORE = timedelta(days=7)


def N_(s: str) -> str:
    return s


class CodeRefused(DomainError):
    """A wrong, reused or late one-time code; after MAX_WRONG_CODES, a wait."""

    status_code = 422


class SigningUnavailable(DomainError):
    status_code = 503


class NoIdentityNumber(DomainError):
    status_code = 409


def _derived(settings: Settings, label: str) -> bytes:
    return hmac.new(settings.secret_key.encode(), label.encode(), hashlib.sha256).digest()


def _fernet(settings: Settings) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived(settings, "signing:totp-secret")))


def people_folder(settings: Settings) -> Path:
    return Path(settings.storage_dir) / "signing" / "people"


def _passphrase_for(settings: Settings) -> Any:
    def passphrase(key_ref: str) -> bytes:
        return base64.b64encode(_derived(settings, f"signing:p12:{key_ref}"))

    return passphrase


def available(settings: Settings) -> bool:
    """Remote signing needs a CA: the development one outside production (a province configures its own)."""
    return settings.environment != "production"


def pkcs12_plugin(app: FastAPI) -> Pkcs12Plugin:
    """The PKCS#12 signer of this app, created once: it keeps loaded keys, so each signature does not reparse one."""
    plugin: Pkcs12Plugin | None = getattr(app.state, "pkcs12_signer", None)
    if plugin is None:
        settings: Settings = app.state.settings
        folder = people_folder(settings)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        plugin = Pkcs12Plugin(Pkcs12Options(folder=folder, passphrases=_passphrase_for(settings)))
        app.state.pkcs12_signer = plugin
    return plugin


def ensure_credential(session: Session, *, account: Account, app: FastAPI) -> SigningCredential:
    """The account's signing credential: a certificate from the CA (renewed near its end) and a TOTP secret."""
    from signing.pki import get_pki

    settings: Settings = app.state.settings
    if not available(settings):
        raise SigningUnavailable(N_("Online signing is not available on this portal. Upload a signed PDF instead."))
    cred = session.get(SigningCredential, account.id)
    now = utcnow()
    if cred is not None and as_utc(cred.cert_not_after) - RENEW_BEFORE > now:
        return cred
    if not account.cccd:
        raise NoIdentityNumber(
            N_(
                "A signing certificate names your personal identification number, and your account has none. "
                "Sign in with {sso} once (it fills it in), or upload a PDF you signed elsewhere."
            ),
            {"sso": settings.oidc_display_name},
        )
    issued = get_pki(app).issue_person(full_name=account.full_name, cccd=account.cccd)
    key_ref = f"{account.id}.p12"
    plugin = pkcs12_plugin(app)
    path = plugin.path_for(key_ref)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(issued.pkcs12(_passphrase_for(settings)(key_ref), friendly_name=account.full_name))
    os.replace(tmp, path)
    if cred is None:
        cred = SigningCredential(
            account_id=account.id,
            signer="pkcs12",
            key_ref=key_ref,
            cert_serial=str(issued.cert.serial_number),
            cert_not_after=issued.cert.not_valid_after_utc,
            totp_secret=_fernet(settings).encrypt(otp.new_secret().encode()).decode(),
        )
    else:
        cred.key_ref, cred.cert_serial = key_ref, str(issued.cert.serial_number)
        cred.cert_not_after = issued.cert.not_valid_after_utc
    session.add(cred)
    session.flush()
    return cred


def totp_secret(cred: SigningCredential, settings: Settings) -> str:
    try:
        return _fernet(settings).decrypt(cred.totp_secret.encode()).decode()
    except InvalidToken as exc:  # the secret key changed: the citizen enrols again
        raise SigningUnavailable(N_("Your one-time code setup must be done again.")) from exc


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    error: CodeRefused | None = None


def confirm_code(session: Session, cred: SigningCredential, code: str, *, app: FastAPI) -> CodeCheck:
    """Check a one-time code; wrong codes are counted (and saved by the caller's commit), then a wait."""
    settings: Settings = app.state.settings
    now = utcnow()
    if cred.locked_until and as_utc(cred.locked_until) > now:
        minutes = int((as_utc(cred.locked_until) - now).total_seconds() // 60) + 1
        return CodeCheck(
            False,
            CodeRefused(
                N_("Too many wrong codes. Try again in {minutes} minutes."), {"minutes": minutes}, status_code=429
            ),
        )
    check(app.state.limiter, "otp:account", cred.account_id)
    step = otp.check(totp_secret(cred, settings), code, last_step=cred.last_totp_step)
    if step is None:
        cred.failed_codes += 1
        left = MAX_WRONG_CODES - cred.failed_codes
        if left <= 0:
            cred.failed_codes = 0
            cred.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            error = CodeRefused(
                N_("Too many wrong codes. Try again in {minutes} minutes."), {"minutes": LOCK_MINUTES}, status_code=429
            )
        else:
            error = CodeRefused(N_("This code is not right, or was already used. {left} tries left."), {"left": left})
        session.add(cred)
        session.flush()
        return CodeCheck(False, error)
    cred.last_totp_step, cred.failed_codes, cred.locked_until = step, 0, None
    if cred.totp_confirmed_at is None:
        cred.totp_confirmed_at = now
    session.add(cred)
    session.flush()
    return CodeCheck(True)


def signer_for(app: FastAPI, cred: SigningCredential) -> Any:
    try:
        return pkcs12_plugin(app).signer_for(cred.key_ref)
    except SignerError as exc:
        raise SigningUnavailable(N_("Your signing key cannot be used right now. Try again later.")) from exc


def expires_soon(cred: SigningCredential, now: datetime | None = None) -> bool:
    return as_utc(cred.cert_not_after) - RENEW_BEFORE <= (now or utcnow())


def timestamper(app: FastAPI) -> Any:
    """The timestamp authority of signatures: PORTAL_SIGNING_TSA_URL (RFC 3161 over HTTP), else the development
    TSA in-process."""
    stamper = getattr(app.state, "dev_timestamper", None)
    if stamper is None:
        settings: Settings = app.state.settings
        if settings.signing_tsa_url:
            from pyhanko.sign.timestamps import HTTPTimeStamper

            stamper = HTTPTimeStamper(settings.signing_tsa_url, timeout=10)
        else:
            from signing.pki import get_pki
            from signing.tsa import DevTimeStamper

            stamper = DevTimeStamper(get_pki(app))
        app.state.dev_timestamper = stamper
    return stamper
