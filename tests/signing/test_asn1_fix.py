"""asn1crypto's misreading of a definite length ending in 0x80 as indefinite is corrected (signing/asn1_fix.py):
such a value is dumped as it was read, not re-encoded from its children."""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import core

import signing  # noqa: F401  (applies the correction)
from signing.asn1_fix import has_indefinite_length


class Versioned(core.Sequence):
    _fields: ClassVar = [("version", core.Integer, {"default": 1}), ("blob", core.OctetString)]


def encoded(total: int) -> bytes:
    """A Versioned whose default version is written out (BER, not DER) and whose contents are `total` bytes."""
    version = bytes.fromhex("020101")
    blob_len = total - len(version) - 4
    blob = bytes.fromhex("0482") + blob_len.to_bytes(2, "big") + b"\x5a" * blob_len
    return bytes.fromhex("3082") + total.to_bytes(2, "big") + version + blob


def test_a_length_ending_in_0x80_is_dumped_as_read() -> None:
    data = encoded(0x880)  # header 30 82 08 80: 2176 bytes, definite
    assert data[:4] == bytes.fromhex("30820880")
    value = Versioned.load(data)
    assert value.dump() == data  # without the correction: re-encoded, the default version dropped
    assert value["blob"].native == b"\x5a" * (0x880 - 7)


def test_other_lengths_and_a_forced_dump_are_unchanged() -> None:
    data = encoded(0x881)
    assert Versioned.load(data).dump() == data
    der = Versioned.load(encoded(0x880)).dump(force=True)
    assert der[:4] == bytes.fromhex("3082087d") and der[4:6] == bytes.fromhex("0482")  # DER: no default version


def test_a_real_indefinite_length_is_still_reencoded() -> None:
    ber = bytes.fromhex("3080") + bytes.fromhex("020102") + bytes.fromhex("040161") + b"\x00\x00"
    value = Versioned.load(ber)
    assert value.dump() == bytes.fromhex("3006020102040161")


def test_headers_are_read_as_tag_then_length() -> None:
    assert has_indefinite_length(bytes.fromhex("3080"))
    assert not has_indefinite_length(bytes.fromhex("30820880"))
    assert not has_indefinite_length(bytes.fromhex("318180"))  # 31 81 80: 128 bytes
    assert not has_indefinite_length(bytes.fromhex("a0823080"))  # an explicit wrapper of 0x3080 bytes
    assert has_indefinite_length(bytes.fromhex("a0803082"))  # an explicit wrapper of indefinite length
    assert has_indefinite_length(bytes.fromhex("1f8101" + "80"))  # a tag in several bytes, then 0x80
