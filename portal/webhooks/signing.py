"""Standard Webhooks signatures (https://www.standardwebhooks.com/): HMAC-SHA256 over "{id}.{timestamp}.{body}".

A secret is "whsec_" followed by the base64 of its key (24 to 64 random bytes). The `webhook-signature`
header holds one "v1,<base64 signature>" per active secret, separated by spaces: during a rotation both the
old and the new secret sign, and a receiver holding either accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64


def secret_key(secret: str) -> bytes:
    """The key of a "whsec_…" secret; ValueError for anything else."""
    if not secret.startswith(PREFIX):
        raise ValueError('a webhook secret starts with "whsec_"')
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError('a webhook secret is "whsec_" followed by base64') from exc
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"a webhook secret's key has {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")
    return key


def new_secret() -> str:
    """A fresh random secret (32 bytes)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The "v1,<base64>" signature of one message with one secret."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per secret, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether one of the header's v1 signatures is `secret`'s (the receiver's check, without the clock)."""
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())
