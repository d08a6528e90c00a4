"""A correction of asn1crypto 1.5.1: a definite length whose last byte is 0x80 is not an indefinite length.

asn1crypto decides that a parsed value had a BER indefinite length (and must be re-encoded, `dump(force=True)`)
when the last byte of its header is 0x80. A long-form definite length can end in that byte too: `31 82 08 80` is a
SET of 2176 bytes. Such a value is then re-encoded from its parsed children; a field left out because it had its
default value comes back as a new object marked changed, and from then on every encoding of the structure re-encodes
it again. A timestamp token that happens to have such a length made one seal take 40–60 s instead of 0.05 s
(pyHanko encodes the signed data several times, to size the signature and to write it), and the token's length
varies by a few bytes with each serial number, signature and time, so it came and went. Upstream: wbond/asn1crypto
issue 249 (open), pull request 302.

The correction wraps the five `dump` methods that make the check: a header whose lengths are all definite is given
to them as a `bytes` whose last-byte slice is not 0x80, so they no longer force a re-encoding; their output is
unchanged (concatenation gives plain bytes back). Headers with a real indefinite length (`30 80`) are untouched.
Imported by `signing/__init__.py`, so every module that signs or verifies has it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asn1crypto import core

INDEFINITE = 0x80


class _DefiniteHeader(bytes):
    """A header with only definite lengths: its last-byte slice never reads as the indefinite-length marker."""

    def __getitem__(self, key: Any) -> Any:
        if key == slice(-1, None, None):
            return b""
        return bytes.__getitem__(self, key)


def has_indefinite_length(header: bytes) -> bool:
    """Whether one of the (outer explicit, then inner) headers in `header` has the indefinite length 0x80."""
    i = 0
    while i < len(header):
        if header[i] & 0x1F == 0x1F:  # a tag number in several bytes
            i += 1
            while i < len(header) and header[i] & 0x80:
                i += 1
        i += 1
        if i >= len(header):
            return False
        length = header[i]
        if length == INDEFINITE:
            return True
        i += 1 + (length & 0x7F if length & 0x80 else 0)
    return False


def _corrected(dump: Callable[..., bytes]) -> Callable[..., bytes]:
    def corrected_dump(self: Any, force: bool = False) -> bytes:
        header = self._header
        if type(header) is bytes and header[-1:] == b"\x80" and not has_indefinite_length(header):
            self._header = _DefiniteHeader(header)
        return dump(self, force)

    corrected_dump.__wrapped__ = dump  # type: ignore[attr-defined]
    corrected_dump.__doc__ = dump.__doc__
    return corrected_dump


def apply() -> None:
    """Wrap the `dump` of each asn1crypto class that defines one with the check (once)."""
    for cls in (core.Asn1Value, core.Choice, core.Primitive, core.Sequence, core.SequenceOf):
        dump = cls.__dict__.get("dump")
        if dump is not None and not hasattr(dump, "__wrapped__"):
            cls.dump = _corrected(dump)


apply()
