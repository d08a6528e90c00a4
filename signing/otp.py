"""One-time codes that confirm each signature: TOTP (RFC 6238) from an authenticator app.

HMAC-SHA1, 6 digits, 30-second steps, one step of clock drift either way, and a code is accepted
once only (the last accepted step is kept), so a code seen over someone's shoulder cannot sign twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """A random 160-bit secret, base32 as authenticator apps expect."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def code_at(secret: str, step: int) -> str:
    """The code of one time step (RFC 4226 HOTP over the step counter)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def check(secret: str, code: str, *, last_step: int | None, now: float | None = None) -> int | None:
    """The step the code belongs to if it is right and newer than `last_step`; None otherwise."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    here = current_step(now)
    for step in range(here - DRIFT_STEPS, here + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code."""
    label = quote(f"{issuer}:{account_name}")
    query = urlencode({"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def development_code(secret: str, *, last_step: int | None, now: float | None = None) -> str:
    """A code that will be accepted now, for the development notice of the signing page.

    Only for the embedded development signer (the caller checks): a tester has no authenticator app
    enrolled with a throw-away key. When this step's code was already used, the next step's (accepted
    within the drift) is given, so two signatures within 30 seconds both work.
    """
    step = current_step(now)
    if last_step is not None and step <= last_step:
        step = last_step + 1
    return code_at(secret, step)
