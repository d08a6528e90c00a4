"""Signer plugins: the registry, PKCS#12 files with their key cache, and a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import io
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signing.pki import DevPKI, Issued
from signing.sign import sign_application
from signing.signers import (
    InMemoryKeySigner,
    Pkcs11Plugin,
    Pkcs12Plugin,
    SignerError,
    get_plugin,
    registry,
)
from tests.signing.conftest import PERSON_NAME
from tests.signing.helpers import BOX, SOFTHSM_MODULE, make_test_pdf, softhsm_token, validate_all

TOKEN, SO_PIN, PIN = "portal-test", "1234", "5678"
NAME = PERSON_NAME  # the `person` fixture (conftest.py)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return make_test_pdf("Tờ khai đăng ký thường trú\nHọ, chữ đệm và tên: Nguyễn Thị Hường")


def _assert_good(signed: bytes, pki: DevPKI) -> None:
    (status,) = validate_all(signed, pki)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE


# --- registry ------------------------------------------------------------------------------------------


def test_registry_has_the_builtins_and_validates_ids_and_options(tmp_path: Path) -> None:
    assert {"pkcs11", "pkcs12"} <= set(registry.ids())
    assert registry.validate_id("pkcs12") == "pkcs12"
    with pytest.raises(ValueError, match="unknown signer plugin"):
        registry.validate_id("remote-ca")
    assert isinstance(get_plugin("pkcs12", {"folder": tmp_path}), Pkcs12Plugin)
    with pytest.raises(ValidationError):
        get_plugin("pkcs12", {"folder": tmp_path, "cache_size": 0})
    with pytest.raises(ValidationError):
        get_plugin("pkcs11", {})  # token_label is required
    with pytest.raises(ValueError, match="two signer plugins"):

        @registry.register("pkcs12")
        class Impostor(Pkcs12Plugin):
            pass


# --- PKCS#12 ----------------------------------------------------------------------------------------------


def test_pkcs12_signature_validates(dev_pki: DevPKI, person: Issued, pdf: bytes, tmp_path: Path) -> None:
    (tmp_path / "001090000001.p12").write_bytes(person.pkcs12(b"mat-khau"))
    plugin = get_plugin("pkcs12", {"folder": tmp_path, "passphrases": {"001090000001.p12": "mat-khau"}})
    plugin.check_config()
    signed = sign_application(pdf, signer=plugin.signer_for("001090000001.p12"), signer_name=NAME, box=BOX, page=0).pdf
    _assert_good(signed, dev_pki)


def test_pkcs12_file_is_loaded_once_per_key_ref(dev_pki: DevPKI, person: Issued, pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "hoa.p12"
    path.write_bytes(person.pkcs12(b"pw"))
    loads: list[str] = []

    def passphrase(key_ref: str) -> bytes:  # asked once per load of the file
        loads.append(key_ref)
        return b"pw"

    plugin = get_plugin("pkcs12", {"folder": tmp_path, "passphrases": passphrase})
    first = sign_application(pdf, signer=plugin.signer_for("hoa.p12"), signer_name=NAME, box=BOX, page=0)
    second = sign_application(
        first.pdf, signer=plugin.signer_for("hoa.p12"), signer_name=NAME, box=BOX, page=0, field_name="ChuKy2"
    )
    assert loads == ["hoa.p12"]
    assert all(s.intact and s.valid and s.trusted for s in validate_all(second.pdf, dev_pki))

    # Many threads asking at once for a key not yet loaded still load it once.
    other = dev_pki.issue_person(full_name="Trần Văn Bình", cccd="001090000002")
    (tmp_path / "binh.p12").write_bytes(other.pkcs12(b"pw"))
    barrier = threading.Barrier(8)
    got: list[object] = []

    def worker() -> None:
        barrier.wait()
        got.append(plugin.signer_for("binh.p12"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads.count("binh.p12") == 1 and len({id(s) for s in got}) == 1

    # A replaced file (a renewed certificate) is loaded afresh.
    path.write_bytes(dev_pki.issue_person(full_name=NAME, cccd="001090000001").pkcs12(b"pw") + b"")
    os.utime(path, ns=(path.stat().st_mtime_ns + 1_000_000_000,) * 2)
    plugin.signer_for("hoa.p12")
    assert loads.count("hoa.p12") == 2


def test_pkcs12_refuses_bad_key_refs_and_passphrases(person: Issued, tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "a.p12").write_bytes(person.pkcs12(b"right"))
    (tmp_path / "outside.p12").write_bytes(person.pkcs12(b""))
    plugin = get_plugin("pkcs12", {"folder": folder, "passphrases": {"a.p12": "wrong"}})
    with pytest.raises(SignerError, match="wrong passphrase"):
        plugin.signer_for("a.p12")
    with pytest.raises(SignerError, match="outside"):
        plugin.signer_for("../outside.p12")
    with pytest.raises(SignerError, match="cannot read"):
        plugin.signer_for("missing.p12")
    with pytest.raises(SignerError, match="does not exist"):
        get_plugin("pkcs12", {"folder": tmp_path / "nowhere"}).check_config()


@pytest.mark.parametrize("prefer_pss", [False, True])
def test_rsa_keys_sign_with_the_key_parsed_once(pdf: bytes, prefer_pss: bool) -> None:
    """The dev PKI is EC; CAs in Vietnam mostly issue RSA: check InMemoryKeySigner's RSA paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lê Văn Tám")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    loaded_key, loaded_cert, _ = pkcs12.load_key_and_certificates(
        pkcs12.serialize_key_and_certificates(b"t", key, cert, None, BestAvailableEncryption(b"pw")), b"pw"
    )
    assert loaded_key is not None and loaded_cert is not None
    signer = InMemoryKeySigner(loaded_key, loaded_cert, prefer_pss=prefer_pss)
    signed = sign_application(pdf, signer=signer, signer_name="Lê Văn Tám", box=BOX, page=0).pdf

    vc = ValidationContext(trust_roots=[asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))])
    (sig,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(sig, signer_validation_context=vc)
    assert status.intact and status.valid and status.trusted
    assert status.pkcs7_signature_mechanism == ("rsassa_pss" if prefer_pss else "sha256_rsa")


# --- PKCS#11 (SoftHSM2) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPKI, person: Issued) -> Iterator[dict[str, str]]:
    """A SoftHSM2 token holding the person's key and certificate (label "k1"); yields the plugin options.

    SoftHSM reads SOFTHSM2_CONF when the library is initialised, and python-pkcs11 keeps one library per
    process: set the variable, then re-initialise in case anything loaded the module earlier.
    """
    base = tmp_path_factory.mktemp("softhsm")
    with softhsm_token(base, label=TOKEN, so_pin=SO_PIN, pin=PIN):
        key_file = base / "k1.pem"
        key_file.write_bytes(person.key_pem())
        subprocess.run(
            ["softhsm2-util", "--import", str(key_file), "--token", TOKEN, "--label", "k1", "--id", "01", "--pin", PIN],
            check=True,
            capture_output=True,
        )
        key_file.unlink()

        lib = pkcs11.lib(SOFTHSM_MODULE)
        lib.reinitialize()
        session = lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN)
        try:
            session.create_object(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                    pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                    pkcs11.Attribute.TOKEN: True,
                    pkcs11.Attribute.LABEL: "k1",
                    pkcs11.Attribute.ID: b"\x01",
                    pkcs11.Attribute.SUBJECT: person.cert.subject.public_bytes(),
                    pkcs11.Attribute.VALUE: person.cert.public_bytes(Encoding.DER),
                }
            )
        finally:
            session.close()
        chain = base / "chain.pem"
        chain.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in person.chain))
        yield {"module_path": SOFTHSM_MODULE, "token_label": TOKEN, "user_pin": PIN, "ca_chain_file": str(chain)}


def test_pkcs11_signature_validates_and_survives_a_token_reset(
    softhsm: dict[str, str], dev_pki: DevPKI, pdf: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = get_plugin("pkcs11", softhsm)
    assert isinstance(plugin, Pkcs11Plugin)
    plugin.check_config()
    try:
        signer = plugin.signer_for("k1")
        assert plugin.signer_for("k1") is signer
        signed = sign_application(pdf, signer=signer, signer_name=NAME, box=BOX, page=0).pdf
        _assert_good(signed, dev_pki)

        # The library is re-initialised under us (an HSM restart): every session handle is gone.
        pkcs11.lib(SOFTHSM_MODULE).reinitialize()
        again = sign_application(pdf, signer=signer, signer_name=NAME, box=BOX, page=0).pdf
        _assert_good(again, dev_pki)
        assert "reopening" in caplog.text

        # Threads share the one session; the plugin serialises them.
        results: list[bytes] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(
                    sign_application(pdf, signer=signer, signer_name=NAME, box=BOX, page=0).pdf
                )
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 4
        _assert_good(results[0], dev_pki)

        with pytest.raises(SignerError, match="0 certificates"):
            plugin.signer_for("no-such-key")
    finally:
        plugin.close()


def test_pkcs11_wrong_pin_is_a_config_error(softhsm: dict[str, str]) -> None:
    plugin = get_plugin("pkcs11", {**softhsm, "user_pin": "0000"})
    with pytest.raises(SignerError, match="PinIncorrect"):
        plugin.check_config()
