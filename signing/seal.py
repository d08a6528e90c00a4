"""The portal's seal on what it issues (receipts now, results later): PAdES with an RFC 3161 timestamp
and, when revocation data is at hand, validation data embedded (B-LT)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper

from portal.kernel.settings import Settings
from signing.pki import DevPKI
from signing.sign import SignResult, seal_document
from signing.signers import InMemoryKeySigner
from signing.tsa import DevTimeStamper

log = logging.getLogger(__name__)
_lock = threading.Lock()
_sealers: dict[tuple[Path, str], Sealer] = {}


@dataclass
class Sealer:
    """The seal's key (loaded once), the timestamp authority and the PKI that vouches for both."""

    pki: DevPKI
    signer: InMemoryKeySigner
    timestamper: TimeStamper

    def seal(self, pdf: bytes) -> SignResult:
        # A validation context collects revocation data as it goes: a fresh one for each seal.
        return seal_document(
            pdf, signer=self.signer, timestamper=self.timestamper, validation_context=self.pki.validation_context()
        )


def get_sealer(settings: Settings) -> Sealer | None:
    """The sealer of this deployment: the development CA's seal outside production; None when not configured.

    A province's own seal certificate and TSA are not configurable yet (see docs/SIGNING.md); in production
    documents are issued unsealed, with a warning in the log.
    """
    if settings.environment == "production":
        return None
    key = (Path(settings.storage_dir).resolve(), settings.base_url)
    with _lock:
        sealer = _sealers.get(key)
        if sealer is None:
            pki = DevPKI.load_or_create(Path(settings.storage_dir) / "pki", base_url=settings.base_url)
            seal = pki.seal()
            stamper: TimeStamper = (
                HTTPTimeStamper(settings.signing_tsa_url, timeout=10)
                if settings.signing_tsa_url
                else DevTimeStamper(pki)
            )
            sealer = Sealer(pki, InMemoryKeySigner(seal.key, seal.cert, seal.chain), stamper)
            _sealers[key] = sealer
    return sealer


def seal_or_pass(pdf: bytes, settings: Settings) -> bytes:
    """The sealed document, or the document as it is where no seal is configured."""
    sealer = get_sealer(settings)
    if sealer is None:
        log.warning("no seal configured: issuing an unsealed document")
        return pdf
    return sealer.seal(pdf).pdf
