"""Remote signing: the citizen's key is kept by the portal's signer (a PKCS#12 file in the embedded
default, a PKCS#11 token or a CA's service elsewhere) and each signature is confirmed by a one-time code."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlmodel import Session

from auth.models import Account
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.deps import app_limiter, app_settings
from portal.kernel.errors import DomainError
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import check
from portal.kernel.settings import Settings
from signing import otp
from signing.models import SigningCredential
from signing.signers import Pkcs11Options, Pkcs11Plugin, Pkcs12Options, Pkcs12Plugin, SignerError

log = logging.getLogger(__name__)

MAX_WRONG_CODES = 5
LOCK_MINUTES = 5
RENEW_BEFORE = timedelta(days=7)
# One plugin per app, and one key-management session at a time: a token accepts one login per process.
_plugin_lock = threading.Lock()
_token_writes = threading.Lock()


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
        settings: Settings = app_settings(app)
        folder = people_folder(settings)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        plugin = Pkcs12Plugin(Pkcs12Options(folder=folder, passphrases=_passphrase_for(settings)))
        app.state.pkcs12_signer = plugin
    return plugin


def pkcs11_chain_file(app: FastAPI) -> Path:
    """The PEM of the people CA and the root, embedded in token signatures (rewritten only if it changed)."""
    from signing.pki import get_pki

    settings: Settings = app_settings(app)
    pki = get_pki(app)
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (pki.ca("people").cert, pki.root))
    path = Path(settings.storage_dir) / "signing" / "pkcs11-chain.pem"
    if not path.is_file() or path.read_bytes() != pem:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        os.replace(tmp, path)
    return path


def pkcs11_plugin(app: FastAPI) -> Pkcs11Plugin:
    """The PKCS#11 signer of this app (PORTAL_SIGNING_PKCS11_*), created once: it keeps one logged-in session."""
    plugin: Pkcs11Plugin | None = getattr(app.state, "pkcs11_signer", None)
    if plugin is None:
        with _plugin_lock:
            plugin = getattr(app.state, "pkcs11_signer", None)
            if plugin is None:
                settings: Settings = app_settings(app)
                plugin = Pkcs11Plugin(
                    Pkcs11Options.model_validate(
                        {
                            "module_path": settings.signing_pkcs11_module,
                            "token_label": settings.signing_pkcs11_token,
                            "user_pin": settings.signing_pkcs11_pin or None,
                            "ca_chain_file": pkcs11_chain_file(app),
                        }
                    )
                )
                app.state.pkcs11_signer = plugin
    return plugin


def _unavailable() -> SigningUnavailable:
    return SigningUnavailable(N_("Your signing key cannot be used right now. Try again later."))


def _open_token_for_writing(app: FastAPI) -> pkcs11.Session:
    """A read-write session to the citizens' token, logged in with the user PIN.

    The login belongs to the process, not the session: the signer's own session is closed first (it logs in
    again when it next signs); if another thread logged in meanwhile, this session shares that login.
    """
    settings: Settings = app_settings(app)
    plugin: Pkcs11Plugin | None = getattr(app.state, "pkcs11_signer", None)
    if plugin is not None:
        plugin.close()
    token = pkcs11.lib(str(settings.signing_pkcs11_module)).get_token(token_label=settings.signing_pkcs11_token)
    try:
        return token.open(rw=True, user_pin=settings.signing_pkcs11_pin or None)
    except pkcs11.UserAlreadyLoggedIn:
        return token.open(rw=True)


def _destroy_labelled(session: pkcs11.Session, label: str) -> None:
    for obj in list(session.get_objects({pkcs11.Attribute.LABEL: label})):
        obj.destroy()


def _forget_token_key(app: FastAPI, label: str) -> None:
    """Destroy a key and certificate in the token (best effort: a leftover key signs nothing without its row)."""
    with _token_writes:
        try:
            session = _open_token_for_writing(app)
        except pkcs11.PKCS11Error as exc:
            log.warning("pkcs11: could not remove the old key %r: %s", label, exc)
            return
        try:
            _destroy_labelled(session, label)
        except pkcs11.PKCS11Error as exc:
            log.warning("pkcs11: could not remove the old key %r: %s", label, exc)
        finally:
            session.close()


def _token_credential(app: FastAPI, account: Account, old_label: str | None) -> tuple[str, x509.Certificate]:
    """Generate the citizen's P-256 key pair in the token, have the CA certify its public key and store the
    certificate next to it (same label); the old key and certificate (`old_label`) are destroyed.

    A new label for each key: a worker process that cached the certificate of the old key cannot sign with the
    new key under the old certificate. Returns (label, certificate).
    """
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    from signing.pki import get_pki

    assert account.cccd
    key_id = os.urandom(8)
    label = f"citizen-{account.id}-{key_id.hex()}"
    with _token_writes:
        try:
            session = _open_token_for_writing(app)
        except pkcs11.PKCS11Error as exc:
            log.error("pkcs11: cannot open the citizens' token: %s %s", type(exc).__name__, exc)
            raise _unavailable() from exc
        try:
            public, _private = session.generate_keypair(
                pkcs11.KeyType.EC,
                store=True,
                label=label,
                id=key_id,
                capabilities=pkcs11.MechanismFlag.SIGN | pkcs11.MechanismFlag.VERIFY,
                public_template={pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                private_template={
                    pkcs11.Attribute.PRIVATE: True,
                    pkcs11.Attribute.SENSITIVE: True,
                    pkcs11.Attribute.EXTRACTABLE: False,
                    pkcs11.Attribute.SIGN: True,
                },
            )
            try:
                public_key = serialization.load_der_public_key(encode_ec_public_key(public))
                if not isinstance(public_key, ec.EllipticCurvePublicKey):
                    raise SignerError(f"pkcs11: the token made a {type(public_key).__name__}, not an EC key")
                issued = get_pki(app).issue_person(
                    full_name=account.full_name, cccd=account.cccd, public_key=public_key
                )
                session.create_object(
                    {
                        pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                        pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                        pkcs11.Attribute.TOKEN: True,
                        pkcs11.Attribute.LABEL: label,
                        pkcs11.Attribute.ID: key_id,
                        pkcs11.Attribute.SUBJECT: issued.cert.subject.public_bytes(),
                        pkcs11.Attribute.VALUE: issued.cert.public_bytes(serialization.Encoding.DER),
                    }
                )
            except BaseException:
                _destroy_labelled(session, label)
                raise
            if old_label and old_label != label:
                _destroy_labelled(session, old_label)
        except (pkcs11.PKCS11Error, SignerError) as exc:
            log.error("pkcs11: cannot make a key in the citizens' token: %s %s", type(exc).__name__, exc)
            raise _unavailable() from exc
        finally:
            session.close()
    return label, issued.cert


def _p12_credential(app: FastAPI, account: Account) -> tuple[str, x509.Certificate]:
    """A new key and certificate in storage_dir/signing/people/<account id>.p12; returns (key_ref, certificate)."""
    from signing.pki import get_pki

    settings: Settings = app_settings(app)
    assert account.cccd
    issued = get_pki(app).issue_person(full_name=account.full_name, cccd=account.cccd)
    key_ref = f"{account.id}.p12"
    plugin = pkcs12_plugin(app)
    path = plugin.path_for(key_ref)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(issued.pkcs12(_passphrase_for(settings)(key_ref), friendly_name=account.full_name))
    os.replace(tmp, path)
    return key_ref, issued.cert


def ensure_credential(session: Session, *, account: Account, app: FastAPI) -> SigningCredential:
    """The account's signing credential: a certificate from the CA (renewed near its end) and a TOTP secret.

    The key is made where PORTAL_SIGNING_KEY_STORE says (a PKCS#12 file, or inside a PKCS#11 token); a credential
    keeps the store it was made in until it is renewed."""
    settings: Settings = app_settings(app)
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
    store = settings.signing_key_store
    if store == "pkcs11":
        if not settings.signing_pkcs11_token:
            log.error("PORTAL_SIGNING_KEY_STORE is pkcs11 but PORTAL_SIGNING_PKCS11_TOKEN is empty")
            raise _unavailable()
        old_label = cred.key_ref if cred is not None and cred.signer == "pkcs11" else None
        key_ref, cert = _token_credential(app, account, old_label)
    else:
        key_ref, cert = _p12_credential(app, account)
    if cred is not None and cred.signer == "pkcs12" and store != "pkcs12":
        with contextlib.suppress(OSError, SignerError):  # the new key is in the token: remove the old file
            pkcs12_plugin(app).path_for(cred.key_ref).unlink(missing_ok=True)
    elif cred is not None and cred.signer == "pkcs11" and store != "pkcs11":
        _forget_token_key(app, cred.key_ref)
    if cred is None:
        cred = SigningCredential(
            account_id=account.id,
            signer=store,
            key_ref=key_ref,
            cert_serial=str(cert.serial_number),
            cert_not_after=cert.not_valid_after_utc,
            totp_secret=_fernet(settings).encrypt(otp.new_secret().encode()).decode(),
        )
    else:
        cred.signer, cred.key_ref, cred.cert_serial = store, key_ref, str(cert.serial_number)
        cred.cert_not_after = cert.not_valid_after_utc
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
    settings: Settings = app_settings(app)
    now = utcnow()
    if cred.locked_until and as_utc(cred.locked_until) > now:
        minutes = int((as_utc(cred.locked_until) - now).total_seconds() // 60) + 1
        return CodeCheck(
            False,
            CodeRefused(
                N_("Too many wrong codes. Try again in {minutes} minutes."), {"minutes": minutes}, status_code=429
            ),
        )
    check(app_limiter(app), "otp:account", cred.account_id)
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
    """The pyHanko signer of the credential's key, by the plugin it was made with (not the current setting)."""
    plugin: Pkcs11Plugin | Pkcs12Plugin
    if cred.signer == "pkcs11":
        plugin = pkcs11_plugin(app)
    elif cred.signer == "pkcs12":
        plugin = pkcs12_plugin(app)
    else:
        log.error("signing credential of %s: unknown signer %r", cred.account_id, cred.signer)
        raise _unavailable()
    try:
        return plugin.signer_for(cred.key_ref)
    except SignerError as exc:
        log.warning("signing key %r (%s) cannot be used: %s", cred.key_ref, cred.signer, exc)
        raise _unavailable() from exc


def expires_soon(cred: SigningCredential, now: datetime | None = None) -> bool:
    return as_utc(cred.cert_not_after) - RENEW_BEFORE <= (now or utcnow())


def timestamper(app: FastAPI) -> Any:
    """The timestamp authority of signatures: PORTAL_SIGNING_TSA_URL (RFC 3161 over HTTP), else the development
    TSA in-process."""
    stamper = getattr(app.state, "dev_timestamper", None)
    if stamper is None:
        settings: Settings = app_settings(app)
        if settings.signing_tsa_url:
            from pyhanko.sign.timestamps import HTTPTimeStamper

            stamper = HTTPTimeStamper(settings.signing_tsa_url, timeout=10)
        else:
            from signing.pki import get_pki
            from signing.tsa import DevTimeStamper

            stamper = DevTimeStamper(get_pki(app))
        app.state.dev_timestamper = stamper
    return stamper
