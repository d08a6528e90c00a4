"""The portal's seal on what it issues (receipts now, results later): PAdES with an RFC 3161 timestamp
and, when revocation data is at hand, validation data embedded (B-LT)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator import ValidationContext

from portal.kernel.settings import Settings
from signing.pki import DevPKI
from signing.sign import Box, SealError, SignResult, seal_document
from signing.signers import InMemoryKeySigner
from signing.tsa import DevTimeStamper

log = logging.getLogger(__name__)
_lock = threading.Lock()
_sealers: dict[tuple[Path, str, str], Sealer] = {}


@dataclass
class Sealer:
    """The seal's key (loaded once), the timestamp authority, and what vouches for the seal's certificate."""

    signer: InMemoryKeySigner
    timestamper: TimeStamper
    validation_context: Callable[[], ValidationContext | None]

    def seal(self, pdf: bytes, *, box: Box | None = None, page: int = -1) -> SignResult:
        """Seal ``pdf``: invisible, or visible in ``box`` (PDF points, x1 y1 x2 y2) on ``page`` (-1: the last)."""
        # A validation context collects revocation data as it goes: a fresh one for each seal. The signer's
        # asn1crypto objects go into the seal and are not thread-safe: its own for each seal too.
        return seal_document(
            pdf,
            signer=self.signer.fresh(),
            timestamper=self.timestamper,
            validation_context=self.validation_context(),
            box=box,
            page=page,
        )


def _configured(settings: Settings) -> Sealer | None:
    """A province's own seal: a PKCS#12 file, its trust roots and an RFC 3161 TSA (all three are needed)."""
    path = settings.signing_seal_p12
    if path is None:
        return None
    if not settings.signing_tsa_url:
        raise SealError("PORTAL_SIGNING_SEAL_P12 needs PORTAL_SIGNING_TSA_URL: a seal carries a timestamp")
    passphrase = settings.signing_seal_passphrase.encode() or None
    key, cert, chain = pkcs12.load_key_and_certificates(Path(path).read_bytes(), passphrase)
    if key is None or cert is None:
        raise SealError(f"{path} holds no key and certificate")
    roots = [
        asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
        for root_file in settings.signing_trust_roots
        for c in x509.load_pem_x509_certificates(Path(root_file).read_bytes())
    ]
    others = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain or []]

    def context() -> ValidationContext | None:
        if not roots:
            return None  # B-T: nothing to build validation data against
        return ValidationContext(
            trust_roots=roots, other_certs=others, allow_fetching=True, revocation_mode="hard-fail"
        )

    stamper = HTTPTimeStamper(settings.signing_tsa_url, timeout=10)
    return Sealer(InMemoryKeySigner(key, cert, chain or []), stamper, context)


def get_sealer(settings: Settings) -> Sealer | None:
    """The sealer of this deployment: the configured seal (PORTAL_SIGNING_SEAL_P12), else the development CA's
    seal outside production; None in production without one (documents are then issued unsealed, with a
    warning in the log)."""
    key = (Path(settings.storage_dir).resolve(), settings.base_url, str(settings.signing_seal_p12 or ""))
    with _lock:
        sealer = _sealers.get(key)
        if sealer is not None:
            return sealer
        sealer = _configured(settings)
        if sealer is None and settings.environment != "production":
            pki = DevPKI.load_or_create(Path(settings.storage_dir) / "pki", base_url=settings.base_url)
            seal = pki.seal()
            url = settings.signing_tsa_url
            stamper: TimeStamper = HTTPTimeStamper(url, timeout=10) if url else DevTimeStamper(pki)
            sealer = Sealer(InMemoryKeySigner(seal.key, seal.cert, seal.chain), stamper, pki.validation_context)
        if sealer is not None:
            _sealers[key] = sealer
    return sealer


def seal_or_pass(pdf: bytes, settings: Settings, *, box: Box | None = None, page: int = -1) -> bytes:
    """The sealed document, or the document as it is where no seal is configured.

    With a ``box`` the seal is visible there on ``page`` (the stamp says who sealed and when, in Vietnamese);
    the document must leave that area empty.
    """
    sealer = get_sealer(settings)
    if sealer is None:
        log.warning("no seal configured: issuing an unsealed document")
        return pdf
    return sealer.seal(pdf, box=box, page=page).pdf
