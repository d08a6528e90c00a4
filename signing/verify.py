"""Validation of signed PDFs: integrity, trust, revocation, timestamps and coverage, as a frozen report.

The signer's chain is evaluated at the moment the document was signed: the time of a valid signature
timestamp when there is one, else the time the signer claims. A claimed time proves nothing, so without a
valid timestamp a revocation is counted whenever it happened (up to now, or to the certificate's expiry);
with one, only a revocation before the timestamp counts (PAdES semantics).

Revocation is checked "when reachable" (soft-fail): the CRLs passed in, those embedded in the document
(DSS, or the signature's revocation archive) and, with ``allow_fetching``, those at the certificates'
distribution points. No revocation information means unknown, not a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from asn1crypto import cms, pem
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import EmbeddedPdfSignature, async_validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InvalidCertificateError, RevokedError, ValidationError

from portal.kernel.i18n import N_

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PAGES",
    "Coverage",
    "SignatureReport",
    "VerificationReport",
    "verify_pdf",
]

log = logging.getLogger(__name__)


DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PAGES = 300

# File-level problems. Messages may use {max_mb} and {max_pages}: the page fills them in.
MSG_EMPTY = N_("The file is empty.")
MSG_TOO_LARGE = N_("The file is larger than {max_mb} MB.")
MSG_NOT_PDF = N_("This file is not a PDF document.")
MSG_ENCRYPTED = N_("This PDF is encrypted or password-protected, so its signatures cannot be checked.")
MSG_DAMAGED = N_("The PDF file is damaged or incomplete.")
MSG_TOO_MANY_PAGES = N_("The PDF has more than {max_pages} pages: it is too long to be checked here.")
MSG_NO_SIGNATURE = N_("The PDF contains no digital signature.")

# Problems of one signature.
MSG_SIG_UNREADABLE = N_("This signature cannot be read: it is damaged or in a format the portal does not support.")
MSG_SIG_NOT_INTACT = N_("The signed content was altered after signing: it no longer matches the signature.")
MSG_SIG_INVALID = N_("The signature value does not match the signer's certificate.")
MSG_SIG_UNTRUSTED = N_("The signer's certificate was not issued by a certification authority the portal trusts.")
MSG_SIG_REVOKED = N_("The signer's certificate has been revoked by the certification authority.")
MSG_SIG_EXPIRED = N_("The signer's certificate had already expired when the document was signed.")
MSG_SIG_NOT_YET_VALID = N_("The signer's certificate was not yet valid when the document was signed.")
MSG_SIG_KEY_USAGE = N_("The signer's certificate is not meant for signing documents.")
MSG_SIG_WEAK = N_("The signature uses an algorithm that is no longer considered secure.")
MSG_SIG_CHAIN = N_("The signer's certificate could not be validated.")
MSG_SIG_MODIFIED_AFTER = N_("The file was changed after this signature was made: content was added or replaced.")
MSG_SIG_PARTIAL = N_("This signature covers only part of the file.")
MSG_SIG_TIMESTAMP = N_("The signature's timestamp is not valid or comes from an untrusted timestamp authority.")

# Exceptions that malformed or hostile input makes the parsers raise (never MemoryError and the like).
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    PdfError,
    ValueError,  # also asn1crypto's errors and pyHanko's SignatureValidationError
    LookupError,
    TypeError,
    AttributeError,
    AssertionError,  # pyHanko checks some structure with assert
    RecursionError,
    NotImplementedError,
    ArithmeticError,  # e.g. decimal.InvalidOperation from a malformed number
    EOFError,
    OSError,
    struct.error,
    zlib.error,
)

# A signing certificate carries one of these (Vietnamese CAs set both); anything else is refused.
_SIGNING_KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"})
_CCCD_PREFIX = re.compile(r"^(?:CCCD|CMND|CCCN|CAN|CMT|PID)\s*[:\-]\s*", re.IGNORECASE)
_ID_NUMBER = re.compile(r"\d{12}|\d{9}")  # CCCD, or the older CMND
_UID_OID = "0.9.2342.19200300.100.1.1"


class Coverage(StrEnum):
    """How much of the file a signature covers."""

    ENTIRE_FILE = "entire_file"
    ENTIRE_REVISION = "entire_revision"  # its revision, then changes appended after it
    PARTIAL = "partial"


@dataclass(frozen=True)
class SignatureReport:
    """What one signature says about the document."""

    field_name: str
    signer_name: str | None
    signer_cccd: str | None
    signing_time: datetime | None  # claimed by the signer
    timestamp_time: datetime | None  # from the signature timestamp, if any
    intact: bool
    valid: bool
    trusted: bool
    revoked: bool
    expired_at_signing: bool
    coverage: str
    modified_after: bool  # content (not only validation data) was appended after this signature
    has_timestamp: bool
    timestamp_valid: bool | None
    ltv: bool  # revocation information is embedded (DSS or the signature's revocation archive)
    problems: tuple[str, ...]
    # The document as it is now is what this signature vouches for: it covers the whole file, or only
    # validation data, or later signatures that themselves cover the whole file, were appended.
    covers_document: bool = False
    issuer_name: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.intact
            and self.valid
            and self.trusted
            and not self.revoked
            and not self.expired_at_signing
            and self.covers_document
            and self.timestamp_valid is not False
        )


@dataclass(frozen=True)
class VerificationReport:
    """The verdict on one file."""

    sha256: str
    pages: int
    signatures: tuple[SignatureReport, ...]
    ok: bool  # at least one signature, and every one intact, valid, trusted, unrevoked, covering the document
    problems: tuple[str, ...]
    size: int = 0


def verify_pdf(
    data: bytes,
    *,
    trust_roots: Sequence[x509.Certificate],
    crls: Iterable[bytes] = (),
    allow_fetching: bool = False,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> VerificationReport:
    """Check every signature of a PDF; refuse unusable files with problems, never with an exception.

    Synchronous and CPU-bound (it runs its own event loop for pyHanko): call it off the event loop.
    """
    size = len(data)
    sha256 = hashlib.sha256(data).hexdigest()

    def refused(msgid: str, pages: int = 0) -> VerificationReport:
        return VerificationReport(sha256=sha256, pages=pages, signatures=(), ok=False, problems=(msgid,), size=size)

    if not data:
        return refused(MSG_EMPTY)
    if size > max_bytes:
        return refused(MSG_TOO_LARGE)
    if not data.startswith(b"%PDF-"):
        return refused(MSG_NOT_PDF)
    # Like Acrobat, require the end-of-file marker near the end: a cut file is refused before parsing.
    if b"%%EOF" not in data[-1024:] or b"startxref" not in data[-2048:]:
        return refused(MSG_DAMAGED)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return refused(MSG_ENCRYPTED)
        pages = _page_count(reader)
        if pages > max_pages:
            return refused(MSG_TOO_MANY_PAGES, pages)
        embedded = list(reader.embedded_regular_signatures)
    except _PARSE_ERRORS as exc:
        log.info("verify: unreadable PDF (%s: %s)", type(exc).__name__, exc)
        return refused(MSG_DAMAGED)
    except Exception:  # hostile input must never crash the page: report it, and log the parser's surprise
        log.exception("verify: unexpected error while reading a PDF")
        return refused(MSG_DAMAGED)
    if not embedded:
        return refused(MSG_NO_SIGNATURE, pages)

    roots = [_to_asn1(c) for c in trust_roots]
    supplied_crls = _load_crls(crls)
    try:
        reports = asyncio.run(_validate_all(reader, embedded, roots, supplied_crls, allow_fetching))
    except _PARSE_ERRORS as exc:
        log.info("verify: unreadable signatures (%s: %s)", type(exc).__name__, exc)
        return refused(MSG_DAMAGED, pages)
    except Exception:  # as above
        log.exception("verify: unexpected error while validating signatures")
        return refused(MSG_DAMAGED, pages)
    ok = bool(reports) and all(r.ok for r in reports)
    return VerificationReport(sha256=sha256, pages=pages, signatures=reports, ok=ok, problems=(), size=size)


# --- the signatures ---------------------------------------------------------------------------


@dataclass
class _Revinfo:
    """Certificates and revocation data gathered from the caller and the document."""

    certs: list[asn1_x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)


@dataclass(frozen=True)
class _Checked:
    """One signature's status from pyHanko plus what we worked out around it."""

    emb: EmbeddedPdfSignature
    status: PdfSignatureStatus | None
    report: SignatureReport


async def _validate_all(
    reader: PdfFileReader,
    embedded: list[EmbeddedPdfSignature],
    roots: list[asn1_x509.Certificate],
    crls: list[asn1_crl.CertificateList],
    allow_fetching: bool,
) -> tuple[SignatureReport, ...]:
    dss = _read_dss(reader)
    checked = []
    for emb in embedded:  # in signing order
        checked.append(await _check_signature(emb, roots, crls, dss, allow_fetching))
    return _judge_coverage(checked)


async def _check_signature(
    emb: EmbeddedPdfSignature,
    roots: list[asn1_x509.Certificate],
    crls: list[asn1_crl.CertificateList],
    dss: _Revinfo,
    allow_fetching: bool,
) -> _Checked:
    name = _field_name(emb)
    try:
        cert = emb.signer_cert
        claimed = _aware(emb.self_reported_timestamp)
        archived = _archived_revinfo(emb.signer_info)
    except _PARSE_ERRORS as exc:
        log.info("verify: unreadable signature %s (%s: %s)", name, type(exc).__name__, exc)
        return _Checked(emb, None, _unreadable(name))
    revinfo = _Revinfo(
        certs=[*dss.certs, *emb.other_embedded_certs],
        crls=[*crls, *dss.crls, *archived.crls],
        ocsps=[*dss.ocsps, *archived.ocsps],
    )
    ltv = bool(dss.crls or dss.ocsps or archived.crls or archived.ocsps)
    now = datetime.now(UTC)
    token_time = _timestamp_token_time(emb.signer_info)

    def context(moment: datetime | None) -> ValidationContext:
        return ValidationContext(
            trust_roots=roots,
            other_certs=revinfo.certs,
            crls=revinfo.crls,
            ocsps=revinfo.ocsps,
            allow_fetching=allow_fetching,
            revocation_mode="soft-fail",
            moment=moment,
            # Revocation data issued after the moment of signing still tells about that moment.
            retroactive_revinfo=moment is not None,
        )

    async def validate(reference: datetime) -> PdfSignatureStatus:
        signer_ctx, ts_ctx = context(min(reference, now)), context(None)
        try:
            return await async_validate_pdf_signature(
                emb,
                signer_validation_context=signer_ctx,
                ts_validation_context=ts_ctx,
                key_usage_settings=_SIGNING_KEY_USAGE,
            )
        finally:
            await signer_ctx.aclose()
            await ts_ctx.aclose()

    try:
        # Assume the timestamp holds; if it does not, evaluate again at the claimed time.
        status = await validate(token_time or claimed or now)
        timestamp_ok = _timestamp_ok(status)
        if token_time is not None and not timestamp_ok:
            status = await validate(claimed or now)
        reference = _aware(status.timestamp_validity.timestamp) if timestamp_ok and status.timestamp_validity else None
        reference = min(reference or claimed or now, now)
        revoked_later = False
        if not timestamp_ok and status.trusted:
            revoked_later = await _revoked_since(cert, status, reference, now, context)
    except _PARSE_ERRORS as exc:
        log.info("verify: signature %s could not be validated (%s: %s)", name, type(exc).__name__, exc)
        return _Checked(emb, None, _unreadable(name, signing_time=claimed, cert=cert))
    return _Checked(emb, status, _report(name, cert, status, claimed, reference, revoked_later, ltv))


async def _revoked_since(
    cert: asn1_x509.Certificate,
    status: PdfSignatureStatus,
    reference: datetime,
    now: datetime,
    context: Any,
) -> bool:
    """Without a trusted timestamp, a revocation after the claimed signing time still counts."""
    not_after = cert["tbs_certificate"]["validity"]["not_after"].native
    moment = min(now, not_after - timedelta(seconds=2))
    if moment <= reference:
        return False
    ctx: ValidationContext = context(moment)
    intermediates = list(status.validation_path.iter_certs(include_root=False)) if status.validation_path else []
    try:
        validator = CertificateValidator(cert, intermediate_certs=intermediates, validation_context=ctx)
        await validator.async_validate_path()
    except RevokedError:
        return True
    except ValidationError:
        return False  # unknown then: the signature already passed at the moment it claims
    finally:
        await ctx.aclose()
    return False


def _report(
    name: str,
    cert: asn1_x509.Certificate,
    status: PdfSignatureStatus,
    claimed: datetime | None,
    reference: datetime,
    revoked_later: bool,
    ltv: bool,
) -> SignatureReport:
    problems: list[str] = []
    validity = cert["tbs_certificate"]["validity"]
    expired = reference > validity["not_after"].native
    not_yet_valid = reference < validity["not_before"].native
    revoked = status.revoked or revoked_later
    tsv = status.timestamp_validity
    timestamp_valid = None if tsv is None else bool(tsv.intact and tsv.valid and tsv.trusted)

    if not status.intact:
        problems.append(MSG_SIG_NOT_INTACT)
    elif not status.valid:
        problems.append(MSG_SIG_INVALID)
    if revoked:
        problems.append(MSG_SIG_REVOKED)
    if expired:
        problems.append(MSG_SIG_EXPIRED)
    if not_yet_valid:
        problems.append(MSG_SIG_NOT_YET_VALID)
    if status.intact and status.valid and not status.trusted and not (revoked or expired or not_yet_valid):
        problems.append(_trust_problem(status, cert))
    if timestamp_valid is False:
        problems.append(MSG_SIG_TIMESTAMP)
    return SignatureReport(
        field_name=name,
        signer_name=_subject_value(cert, "common_name"),
        signer_cccd=_cccd(cert),
        signing_time=claimed,
        timestamp_time=_aware(tsv.timestamp) if tsv is not None else None,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted) and not revoked,
        revoked=revoked,
        expired_at_signing=expired,
        coverage=_coverage(status.coverage),
        modified_after=False,  # settled by _judge_coverage, which sees every signature
        has_timestamp=tsv is not None,
        timestamp_valid=timestamp_valid,
        ltv=ltv,
        problems=tuple(problems),
        issuer_name=_issuer_name(cert),
    )


def _trust_problem(status: PdfSignatureStatus, cert: asn1_x509.Certificate) -> str:
    indication = getattr(status.trust_problem_indic, "name", "")
    if indication == "NO_CERTIFICATE_CHAIN_FOUND":
        return MSG_SIG_UNTRUSTED
    if indication == "CHAIN_CONSTRAINTS_FAILURE":
        # pyHanko reports an untrusted self-signed certificate and a wrong key usage alike.
        try:
            _SIGNING_KEY_USAGE.validate(cert)
        except InvalidCertificateError:
            return MSG_SIG_KEY_USAGE
        return MSG_SIG_UNTRUSTED
    if indication.startswith("CRYPTO_CONSTRAINTS_FAILURE"):
        return MSG_SIG_WEAK
    if indication.startswith("REVOKED"):
        return MSG_SIG_REVOKED
    if status.validation_path is None:
        return MSG_SIG_UNTRUSTED
    return MSG_SIG_CHAIN


def _judge_coverage(checked: list[_Checked]) -> tuple[SignatureReport, ...]:
    """Decide, from the last signature back, which signatures vouch for the document as it is now."""
    out: list[SignatureReport] = []
    later_covers = False  # a later signature is good and vouches for the whole document
    for item in reversed(checked):
        report, status = item.report, item.status
        if status is None:
            out.append(report)
            continue
        level = status.modification_level
        if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
            modified, covers = False, True
        elif status.coverage == SignatureCoverageLevel.ENTIRE_REVISION:
            # Appended validation data (DSS, document timestamps) changes nothing a reader sees.
            only_ltv = level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
            modified = not only_ltv
            signed_later = level == ModificationLevel.FORM_FILLING and status.docmdp_ok is not False and later_covers
            covers = only_ltv or signed_later
        else:
            modified, covers = True, False
        problems = list(report.problems)
        if not covers:
            problems.append(MSG_SIG_MODIFIED_AFTER if report.coverage == Coverage.ENTIRE_REVISION else MSG_SIG_PARTIAL)
        report = replace(report, modified_after=modified, covers_document=covers, problems=tuple(problems))
        out.append(report)
        later_covers = later_covers or report.ok
    return tuple(reversed(out))


def _unreadable(name: str, *, signing_time: datetime | None = None, cert: Any = None) -> SignatureReport:
    return SignatureReport(
        field_name=name,
        signer_name=_subject_value(cert, "common_name") if cert is not None else None,
        signer_cccd=_cccd(cert) if cert is not None else None,
        signing_time=signing_time,
        timestamp_time=None,
        intact=False,
        valid=False,
        trusted=False,
        revoked=False,
        expired_at_signing=False,
        coverage=Coverage.PARTIAL,
        modified_after=False,
        has_timestamp=False,
        timestamp_valid=None,
        ltv=False,
        problems=(MSG_SIG_UNREADABLE,),
        covers_document=False,
        issuer_name=_issuer_name(cert) if cert is not None else None,
    )


# --- helpers ----------------------------------------------------------------------------------


def _page_count(reader: PdfFileReader) -> int:
    count = reader.root["/Pages"]["/Count"]
    return max(0, int(count))


def _field_name(emb: EmbeddedPdfSignature) -> str:
    try:
        return str(emb.field_name)
    except _PARSE_ERRORS:
        return "?"


def _coverage(level: SignatureCoverageLevel | None) -> str:
    if level == SignatureCoverageLevel.ENTIRE_FILE:
        return Coverage.ENTIRE_FILE
    if level == SignatureCoverageLevel.ENTIRE_REVISION:
        return Coverage.ENTIRE_REVISION
    return Coverage.PARTIAL


def _timestamp_ok(status: PdfSignatureStatus) -> bool:
    tsv = status.timestamp_validity
    return tsv is not None and bool(tsv.intact and tsv.valid and tsv.trusted)


def _timestamp_token_time(signer_info: cms.SignerInfo) -> datetime | None:
    """The time in the first signature timestamp token, before anyone has checked it."""
    try:
        unsigned = signer_info["unsigned_attrs"]
        if not unsigned:
            return None
        for attr in unsigned:
            if attr["type"].native != "signature_time_stamp_token":
                continue
            for token in attr["values"]:
                tst_info = token["content"]["encap_content_info"]["content"].parsed
                return _aware(tst_info["gen_time"].native)
    except _PARSE_ERRORS:
        return None
    return None


def _archived_revinfo(signer_info: cms.SignerInfo) -> _Revinfo:
    """CRLs and OCSP responses the signer embedded in the signature (Adobe's revocation archive)."""
    out = _Revinfo()
    signed = signer_info["signed_attrs"]
    if not signed:
        return out
    for attr in signed:
        if attr["type"].native != "adobe_revocation_info_archival":
            continue
        for archive in attr["values"]:
            out.crls.extend(archive["crl"] or [])
            out.ocsps.extend(archive["ocsp"] or [])
    return out


def _read_dss(reader: PdfFileReader) -> _Revinfo:
    """Certificates and revocation data in the document security store, if any."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return _Revinfo()
    except _PARSE_ERRORS as exc:
        log.info("verify: unreadable DSS (%s: %s)", type(exc).__name__, exc)
        return _Revinfo()
    out = _Revinfo()
    try:
        out.certs.extend(dss.load_certs())
        for ref in dss.crls:
            out.crls.append(asn1_crl.CertificateList.load(ref.get_object().data))
        for ref in dss.ocsps:
            out.ocsps.append(asn1_ocsp.OCSPResponse.load(ref.get_object().data))
    except _PARSE_ERRORS as exc:
        log.info("verify: unreadable DSS entry (%s: %s)", type(exc).__name__, exc)
    return out


def _load_crls(crls: Iterable[bytes]) -> list[asn1_crl.CertificateList]:
    out = []
    for raw in crls:
        der = pem.unarmor(raw)[2] if pem.detect(raw) else raw
        try:
            crl = asn1_crl.CertificateList.load(der)
            _ = crl["tbs_cert_list"]["issuer"].native  # parse now: a bad CRL is skipped, not fatal later
        except _PARSE_ERRORS as exc:
            log.warning("verify: skipping an unreadable CRL (%s)", exc)
            continue
        out.append(crl)
    return out


def _to_asn1(cert: x509.Certificate | asn1_x509.Certificate) -> asn1_x509.Certificate:
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _subject_value(cert: asn1_x509.Certificate, key: str) -> str | None:
    try:
        value = cert.subject.native.get(key)
    except _PARSE_ERRORS:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    return str(value).strip() or None


def _issuer_name(cert: asn1_x509.Certificate) -> str | None:
    try:
        native = cert.issuer.native
    except _PARSE_ERRORS:
        return None
    value = native.get("common_name") or native.get("organization_name")
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def _cccd(cert: asn1_x509.Certificate) -> str | None:
    """The citizen's identity number from the subject serialNumber, else the UID (e.g. "CCCD:001190012345")."""
    value = _subject_value(cert, "serial_number")
    if value is None:
        try:
            for rdn in cert.subject.chosen:
                for atv in rdn:
                    if atv["type"].dotted == _UID_OID:
                        value = str(atv["value"].native).strip()
        except _PARSE_ERRORS:
            value = None
    if not value:
        return None
    number = _CCCD_PREFIX.sub("", value)
    return number if _ID_NUMBER.fullmatch(number) else None
