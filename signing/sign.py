"""Signing PDFs: the citizen's signature on an application, and the agency's seal on what it issues.

Both are PAdES signatures (ETSI.CAdES.detached, SHA-256) made by pyHanko. The functions are synchronous
and each runs its own event loop: call them from worker threads (the portal does), not from inside an
event loop. Each signature gets its own parsed timestamp tokens (see `_OneSignatureTimeStamper`), so a
timestamper may be shared by threads signing at the same time.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import io
import logging
import threading
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, PdfSigningSession, SigDSSPlacementPreference
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import dummy_digest
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError, PathBuildingError, PathValidationError

from portal.kernel.clock import utcnow
from signing.stamping import signature_stamp_style, stamp_name, stamp_time

log = logging.getLogger(__name__)

APPLICATION_REASON = "Ký tờ khai"
SEAL_REASON = "Đóng dấu xác nhận của cơ quan"
DEFAULT_LOCATION = "Việt Nam"
Box = tuple[float, float, float, float]


class PadesLevel(enum.StrEnum):
    """ETSI EN 319 142-1 baseline level of the signature made."""

    B_B = "B-B"  # signature only: the signing time is the signer's claim
    B_T = "B-T"  # plus an RFC 3161 signature timestamp: the time is attested by a TSA
    B_LT = "B-LT"  # plus the certificates and CRLs/OCSP needed to validate it later, in the DSS


@dataclass(frozen=True)
class SignResult:
    pdf: bytes
    sha256: str
    signer_name: str
    signed_at: datetime  # the signing time claimed in the signature and shown on the stamp (Vietnam time)
    field_name: str
    level: PadesLevel = PadesLevel.B_B


class SealError(Exception):
    """The seal cannot be applied: its certificate or the TSA's does not validate (revoked, expired, untrusted)."""


def sign_application(
    pdf: bytes,
    *,
    signer: Signer,
    signer_name: str,
    box: Box,
    page: int,
    timestamper: TimeStamper | None = None,
    field_name: str = "ChuKyNguoiYeuCau",
    reason: str = APPLICATION_REASON,
    location: str = DEFAULT_LOCATION,
) -> SignResult:
    """The citizen's visible signature in `box` (PDF points, x1 y1 x2 y2) on `page` (0-based, -1 = last).

    With a timestamper the signature is B-T, else B-B.
    """
    name = stamp_name(signer_name)
    signed_at = stamp_time(utcnow())
    meta = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=name,
    )
    field = SigFieldSpec(sig_field_name=field_name, on_page=page, box=_int_box(box))
    pdf_signer = _TimedPdfSigner(
        meta,
        signer,
        signed_at,
        timestamper=_OneSignatureTimeStamper(timestamper) if timestamper is not None else None,
        stamp_style=signature_stamp_style(),
        new_field_spec=field,
    )
    out = _run(_sign(pdf_signer, pdf), None)
    level = PadesLevel.B_T if timestamper is not None else PadesLevel.B_B
    return SignResult(out, hashlib.sha256(out).hexdigest(), name, signed_at, field_name, level)


def seal_document(
    pdf: bytes,
    *,
    signer: Signer,
    timestamper: TimeStamper,
    validation_context: ValidationContext | None,
    field_name: str = "DauCoQuan",
    box: Box | None = None,
    page: int = -1,
    reason: str = SEAL_REASON,
    location: str = DEFAULT_LOCATION,
    signer_key_usage: frozenset[str] = frozenset({"non_repudiation"}),
) -> SignResult:
    """The agency's seal: PAdES with a signature timestamp, invisible unless a `box` on `page` is given.

    With a validation context the seal's certificate (and the TSA's) is validated first and its validation
    data (certificates, CRLs/OCSP) goes into the DSS of the same revision: B-LT. If the revocation status
    cannot be obtained the seal is B-T; if a certificate is revoked, expired or untrusted, SealError.
    Use a hard-fail context (a soft-fail one never says revocation data is missing, and B-LT may then
    lack it); it collects CRLs as it goes, so build a fresh one for each seal.
    """
    name = signer.subject_name or ""
    signed_at = stamp_time(utcnow())
    field = SigFieldSpec(sig_field_name=field_name, on_page=page, box=_int_box(box) if box else None)

    def pdf_signer(vc: ValidationContext | None) -> PdfSigner:
        meta = PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
            name=name,
            validation_context=vc,
            embed_validation_info=vc is not None,
            use_pades_lta=False,
            signer_key_usage=set(signer_key_usage),
            # One revision holding signature and DSS: B-LT without a second revision after the signature.
            dss_settings=DSSContentSettings(
                placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
            ),
        )
        return _TimedPdfSigner(
            meta,
            signer,
            signed_at,
            timestamper=_OneSignatureTimeStamper(timestamper),
            stamp_style=signature_stamp_style(),
            new_field_spec=field,
        )

    level = PadesLevel.B_T
    if validation_context is not None:
        try:
            out = _run(_sign(pdf_signer(validation_context), pdf), validation_context)
            level = PadesLevel.B_LT
        except (SigningError, PathBuildingError, PathValidationError) as e:
            # pyHanko wraps the signer's path errors in SigningError, not the TSA's.
            cause = e.__cause__ if isinstance(e, SigningError) else e
            if not isinstance(cause, InsufficientRevinfoError):
                raise SealError(f"the seal cannot be applied: {cause or e}") from e
            log.warning("seal %s: revocation information unavailable (%s), sealing without it (B-T)", name, cause)
    if level is PadesLevel.B_T:
        out = _run(_sign(pdf_signer(None), pdf), None)
    return SignResult(out, hashlib.sha256(out).hexdigest(), name, signed_at, field_name, level)


# DER of each shared timestamper's dummy token, per digest algorithm: what pyHanko's own cache holds, as bytes.
_dummy_tokens: weakref.WeakKeyDictionary[TimeStamper, dict[str, bytes]] = weakref.WeakKeyDictionary()
_dummy_tokens_lock = threading.Lock()


class _OneSignatureTimeStamper(TimeStamper):
    """The timestamper of one signature, over a shared one (the seal's, the app's): tokens are its own.

    pyHanko's TimeStamper keeps its dummy token (used to reserve the signature's space and to find the TSA's
    certificates) as one asn1crypto object for the life of the timestamper, and embeds that same object in
    every signature. asn1crypto objects change when they are read (lazy parsing, cached encodings), which is
    not thread-safe; and a lazily parsed defaulted field (the ESS certificate id's hash algorithm) marks the
    token "mutated" for good, after which asn1crypto re-encodes it twice per nesting level at every dump:
    a seal then took 40-60 s instead of 0.05 s, in every later seal of the process. So the shared timestamper
    only asks the TSA; the dummy is kept as DER and each signature parses its own copy, as it does each token.
    """

    def __init__(self, shared: TimeStamper) -> None:
        super().__init__(include_nonce=shared.include_nonce)
        self.shared = shared

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        token = await self.shared.async_timestamp(message_digest, md_algorithm)
        return cms.ContentInfo.load(token.dump())

    async def async_dummy_response(self, md_algorithm: str) -> cms.ContentInfo:
        dummy = self._dummy_response_cache.get(md_algorithm)
        if dummy is not None:
            return dummy
        with _dummy_tokens_lock:
            der = _dummy_tokens.get(self.shared, {}).get(md_algorithm)
        if der is None:
            token = await self.shared.async_timestamp(dummy_digest(md_algorithm), md_algorithm)
            der = token.dump()
            with _dummy_tokens_lock:
                _dummy_tokens.setdefault(self.shared, {})[md_algorithm] = der
        dummy = cms.ContentInfo.load(der)
        self._register_dummy(md_algorithm, dummy)
        return dummy


class _TimedPdfSigner(PdfSigner):
    """A PdfSigner whose signing time is given: the stamp shows it in Vietnam time, not the server's zone."""

    def __init__(
        self,
        meta: PdfSignatureMetadata,
        signer: Signer,
        signing_time: datetime,
        *,
        timestamper: TimeStamper | None,
        stamp_style: BaseStampStyle,
        new_field_spec: SigFieldSpec,
    ) -> None:
        super().__init__(meta, signer, timestamper=timestamper, stamp_style=stamp_style, new_field_spec=new_field_spec)
        self.signing_time = signing_time

    def init_signing_session(self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self.signing_time
        return session


async def _sign(pdf_signer: PdfSigner, pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    output = io.BytesIO()
    await pdf_signer.async_sign_pdf(writer, output=output)
    return output.getvalue()


_T = TypeVar("_T")


def _run(coro: Coroutine[Any, Any, _T], validation_context: ValidationContext | None) -> _T:
    async def run_and_release() -> _T:
        try:
            return await coro
        finally:
            # Fetchers the context opened for itself belong to this event loop: close them inside it.
            if validation_context is not None:
                await validation_context.aclose()

    return asyncio.run(run_and_release())


def _int_box(box: Box) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v) for v in box)
    return x1, y1, x2, y2
