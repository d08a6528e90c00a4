"""Tracking codes of feedback items: `PA-YYMM-XXXXXX`, the month of filing and six characters drawn at random.

The random part uses an alphabet without look-alikes (no 0/O, 1/I/L), so a code read over the phone or copied
by hand is not mistyped; 31^6 ≈ 887 million codes a month, and lookups are rate-limited per address, so codes
cannot be found by trying.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_LENGTH = 6
PREFIX = "PA"  # phản ánh
CODE_RE = re.compile(rf"^{PREFIX}-\d{{4}}-[{ALPHABET}]{{{RANDOM_LENGTH}}}$")


def new_code(day: date) -> str:
    """A fresh code for an item filed on `day` (local date); the caller retries on the rare collision."""
    tail = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{PREFIX}-{day:%y%m}-{tail}"


def normalize(raw: str) -> str | None:
    """A typed code in canonical form (upper case, spaces dropped), or None when it cannot be a tracking code."""
    code = re.sub(r"\s+", "", raw or "")[:40].upper()
    return code if CODE_RE.match(code) else None
