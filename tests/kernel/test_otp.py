"""One-time codes (TOTP, RFC 6238)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

from signing import otp

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode().rstrip("=")


def test_rfc_6238_vectors() -> None:
    # Appendix B of RFC 6238 (SHA-1), last 6 of the 8 digits.
    for t, expected in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")):
        assert otp.code_at(RFC_SECRET, t // 30) == expected


def test_check_accepts_drift_and_refuses_reuse_and_garbage() -> None:
    now = 1_800_000_000.0
    step = otp.current_step(now)
    code = otp.code_at(RFC_SECRET, step)
    assert otp.check(RFC_SECRET, code, last_step=None, now=now) == step
    assert otp.check(RFC_SECRET, f"{code[:3]} {code[3:]}", last_step=None, now=now) == step  # spaces are fine
    assert otp.check(RFC_SECRET, otp.code_at(RFC_SECRET, step - 1), last_step=None, now=now) == step - 1
    assert otp.check(RFC_SECRET, otp.code_at(RFC_SECRET, step - 2), last_step=None, now=now) is None
    assert otp.check(RFC_SECRET, code, last_step=step, now=now) is None  # used once already
    for bad in ("", "12345", "1234567", "abcdef"):
        assert otp.check(RFC_SECRET, bad, last_step=None, now=now) is None


def test_new_secrets_and_provisioning_uri() -> None:
    one, two = otp.new_secret(), otp.new_secret()
    assert one != two and len(base64.b32decode(one + "=" * (-len(one) % 8))) == 20
    uri = otp.provisioning_uri(one, account_name="hương@example.vn", issuer="Cổng DVC")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parse_qs(parts.query)["secret"] == [one]
