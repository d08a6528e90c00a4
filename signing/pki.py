"""The development PKI: a root CA, issuing CAs, citizen, seal, TSA and agency certificates, and their CRLs.

Created in a folder at first start and reused after. Development and tests only: keys are kept unencrypted
(files 0600 in a 0700 folder). In production the province's CA issues certificates and runs revocation
and timestamping; see signing/pki_views.py, which serves nothing there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, get_args, overload

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from pyhanko_certvalidator import ValidationContext

from portal.kernel.deps import app_settings

if sys.platform != "win32":
    import fcntl

DEFAULT_ORG = "Cổng Dịch vụ công (phát triển)"
CAName = Literal["root", "people", "services"]
CA_NAMES: tuple[CAName, ...] = get_args(CAName)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
# The key of an Issued: None when the CA certified a key it never saw (kept in a PKCS#11 token).
K = TypeVar("K", bound=PrivateKey | None, covariant=True)

# Document signing: Microsoft's purpose (what Adobe and most Vietnamese CAs put in) and RFC 9336's id-kp.
OID_MS_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
OID_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
CCCD_RE = re.compile(r"\d{12}")
AGENCY_CODE_RE = re.compile(r"[A-Z]{2,6}")

ROOT_DAYS = 3650
SERVICE_CERT_DAYS = 730
RENEW_BEFORE = timedelta(days=30)
# Certificates issued "now" start a few minutes earlier, so a validator whose clock lags ours accepts them.
CLOCK_SKEW = timedelta(minutes=5)
CA_COMMON_NAMES: dict[CAName, str] = {
    "root": "Dev Root CA",
    "people": "Dev CA công dân",
    "services": "Dev CA dịch vụ",
}
ServiceCert = Literal["seal", "tsa"]


class PKIError(Exception):
    """The PKI folder is inconsistent (a key without its certificate, a CA not issued by the root)."""


class UnknownCertificate(LookupError):
    """No certificate with this serial number was issued by this PKI."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return moment.astimezone(UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 everywhere: fast to generate and sign with, accepted by Adobe, pyHanko and the EU trust lists.
    return ec.generate_private_key(ec.SECP256R1())


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode()


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _has_eku(cert: x509.Certificate, oid: ObjectIdentifier) -> bool:
    """Whether the certificate's extended key usage lists `oid` (NSS, hence pdfsig, wants emailProtection)."""
    try:
        return oid in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False


def _crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


@dataclass(frozen=True)
class Issued(Generic[K]):
    """A certificate, its private key (None if the key was certified without being seen) and its issuers up
    to and including the root."""

    cert: x509.Certificate
    key: K
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def _private_key(self) -> PrivateKey:
        if self.key is None:
            raise ValueError(f"certificate {self.serial:x} was issued for a public key: its private key is not here")
        return self.key

    def pkcs12(self, passphrase: bytes, friendly_name: str = "") -> bytes:
        """Key, certificate and chain as a PKCS#12 file (AES-256 + PBKDF2; unencrypted for an empty passphrase)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        name = (friendly_name or _common_name(self.cert)).encode()
        return pkcs12.serialize_key_and_certificates(
            name, self._private_key(), self.cert, list(self.chain) or None, encryption
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self._private_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def asn1_cert(self) -> asn1_x509.Certificate:
        """The certificate as asn1crypto sees it (what pyHanko takes)."""
        return _to_asn1(self.cert)

    def asn1_chain(self) -> list[asn1_x509.Certificate]:
        return [_to_asn1(cert) for cert in self.chain]

    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        der = self._private_key().private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return asn1_keys.PrivateKeyInfo.load(der)


class DevPKI:
    """A root CA with two issuing CAs ("people" for citizens, "services" for the seal and the TSA), in a folder.

    Files: <name>.crt.pem / <name>.key.pem for root, people, services, seal, tsa and agency-<code> (an agency's
    result-signing certificate); issued/<serial hex>.pem
    for every certificate issued (to find its issuer on revocation); revoked.json. Thread-safe, and safe for
    several worker processes sharing the folder (an flock serialises creation and revocation).
    """

    def __init__(self, folder: Path, *, base_url: str, org: str = DEFAULT_ORG) -> None:
        """Use load_or_create(); this only sets fields."""
        self.folder = folder
        self.base_url = base_url.rstrip("/")
        self.org = org
        self._lock = threading.RLock()
        self._depth = 0
        self._cas: dict[CAName, Issued[PrivateKey]] = {}
        self._services: dict[ServiceCert, Issued[PrivateKey]] = {}
        self._agencies: dict[str, Issued[PrivateKey]] = {}
        self._revoked_cache: tuple[tuple[int, int], dict[str, dict[str, dict[str, str]]]] | None = None

    @classmethod
    def load_or_create(cls, folder: Path, *, base_url: str, org: str = DEFAULT_ORG) -> DevPKI:
        """Load the CAs kept under `folder`, creating whatever is missing."""
        folder = Path(folder)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        (folder / "issued").mkdir(mode=0o700, exist_ok=True)
        pki = cls(folder, base_url=base_url, org=org)
        with pki._locked():
            pki._load_cas()
        return pki

    # -- public API ---------------------------------------------------------------------------------------

    @property
    def root(self) -> x509.Certificate:
        return self._cas["root"].cert

    def ca(self, name: str) -> Issued[PrivateKey]:
        """One of the CAs: "root", "people" or "services"."""
        if name not in CA_NAMES:
            raise ValueError(f"unknown CA {name!r}; expected one of {', '.join(CA_NAMES)}")
        return self._cas[name]  # narrowed to CAName by the check above

    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """The issuing CAs, for a validator's other_certs."""
        return (self._cas["people"].cert, self._cas["services"].cert)

    @overload
    def issue_person(
        self,
        *,
        full_name: str,
        cccd: str,
        valid_from: datetime | None = None,
        valid_days: int = 730,
        public_key: None = None,
    ) -> Issued[PrivateKey]: ...

    @overload
    def issue_person(
        self,
        *,
        full_name: str,
        cccd: str,
        valid_from: datetime | None = None,
        valid_days: int = 730,
        public_key: PublicKey,
    ) -> Issued[None]: ...

    def issue_person(
        self,
        *,
        full_name: str,
        cccd: str,
        valid_from: datetime | None = None,
        valid_days: int = 730,
        public_key: PublicKey | None = None,
    ) -> Issued[PrivateKey] | Issued[None]:
        """A citizen's signing certificate, issued by "Dev CA công dân": for a new key, or for `public_key`
        (whose private key stays where it was made, a PKCS#11 token: the result's key is then None)."""
        name = unicodedata.normalize("NFC", full_name.strip())
        if not name:
            raise ValueError("full_name is empty")
        if not CCCD_RE.fullmatch(cccd):
            raise ValueError("cccd must be the 12 digits of a citizen identity card")
        if valid_days < 1:
            raise ValueError("valid_days must be at least 1")
        start = _aware(valid_from, "valid_from") if valid_from else _now() - CLOCK_SKEW
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, "CCCD:" + cccd),
                x509.NameAttribute(NameOID.USER_ID, "CCCD:" + cccd),
            ]
        )
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (_key_usage(digital_signature=True, content_commitment=True), True),
            (
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.EMAIL_PROTECTION, OID_MS_DOCUMENT_SIGNING, OID_DOCUMENT_SIGNING]
                ),
                False,
            ),
        ]
        if public_key is not None:
            if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                raise TypeError("public_key must be an RSA or EC public key")
            return self._issue_for(
                "people", subject, start, start + timedelta(days=valid_days), extensions, public_key=public_key
            )
        return self._issue("people", subject, start, start + timedelta(days=valid_days), extensions)

    def seal(self) -> Issued[PrivateKey]:
        """The portal's organisation seal certificate, reissued when near expiry, revoked or renamed."""
        return self._service_cert("seal")

    def tsa(self) -> Issued[PrivateKey]:
        """The timestamp authority's certificate (EKU timeStamping, critical), reissued like the seal."""
        return self._service_cert("tsa")

    def issue_agency(self, name: str, agency_code: str) -> Issued[PrivateKey]:
        """An agency's organisation certificate for signing the results it issues, under "Dev CA dịch vụ".

        Kept in the folder as agency-<code>.crt.pem / .key.pem and reused, reissued like the seal (near expiry,
        revoked, renamed, or issued for another base URL). What a back-office's own CA gives it in production;
        here for the back-office simulator and tests.
        """
        display = unicodedata.normalize("NFC", " ".join(name.split()))
        if not display:
            raise ValueError("name is empty")
        if not AGENCY_CODE_RE.fullmatch(agency_code):
            raise ValueError("agency_code must be 2 to 6 uppercase letters, e.g. UBXA")
        subject = self._agency_subject(display, agency_code)
        with self._lock:
            current = self._agencies.get(agency_code)
            if current is not None and self._agency_still_good(current, subject):
                return current
        file_name = f"agency-{agency_code.lower()}"
        with self._locked():
            current = self._load(file_name, (self._cas["services"].cert, self.root))
            if current is None or not self._agency_still_good(current, subject):
                start = _now() - CLOCK_SKEW
                extensions: list[tuple[x509.ExtensionType, bool]] = [
                    (_key_usage(digital_signature=True, content_commitment=True), True),
                    (
                        x509.ExtendedKeyUsage(
                            [ExtendedKeyUsageOID.EMAIL_PROTECTION, OID_MS_DOCUMENT_SIGNING, OID_DOCUMENT_SIGNING]
                        ),
                        False,
                    ),
                ]
                current = self._issue("services", subject, start, start + timedelta(days=SERVICE_CERT_DAYS), extensions)
                self._save(file_name, current)
            self._agencies[agency_code] = current
            return current

    def revoke(self, serial: int, *, reason: str = "key_compromise", when: datetime | None = None) -> None:
        """Put a certificate on its issuer's CRL (persisted; revoking twice keeps the first entry)."""
        flag = _reason_flag(reason)
        moment = _aware(when, "when") if when else _now()
        with self._locked():
            issuer = self._issuer_of(serial)
            revoked = {name: dict(entries) for name, entries in self._revocations().items()}
            revoked.setdefault(issuer, {}).setdefault(
                str(serial), {"reason": flag.name, "when": moment.replace(microsecond=0).isoformat()}
            )
            path = self.folder / "revoked.json"
            _write(path, json.dumps(revoked, indent=1, sort_keys=True).encode(), private=False)
            stat = path.stat()
            self._revoked_cache = ((stat.st_mtime_ns, stat.st_size), revoked)
            self._services = {k: v for k, v in self._services.items() if v.serial != serial}
            self._agencies = {k: v for k, v in self._agencies.items() if v.serial != serial}

    def is_revoked(self, serial: int) -> bool:
        return any(str(serial) in entries for entries in self._revocations().values())

    def crl_der(self, issuer: str = "people") -> bytes:
        """A fresh CRL signed by that CA ("root", "people" or "services"), valid for a day."""
        ca = self.ca(issuer)
        now = _now().replace(microsecond=0)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.cert.subject)
            .last_update(now)
            .next_update(now + timedelta(days=1))
            # Microseconds since the epoch: increases from one CRL to the next without a counter to persist.
            .add_extension(x509.CRLNumber(time.time_ns() // 1000), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        )
        for serial, entry in sorted(self._revocations().get(issuer, {}).items()):
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial))
                .revocation_date(datetime.fromisoformat(entry["when"]))
            )
            flag = x509.ReasonFlags[entry["reason"]]
            if flag is not x509.ReasonFlags.unspecified:  # RFC 5280 §5.3.1: omit rather than say "unspecified"
                revoked = revoked.add_extension(x509.CRLReason(flag), critical=False)
            builder = builder.add_revoked_certificate(revoked.build())
        return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def crls_der(self) -> list[bytes]:
        """Fresh CRLs of every CA: what a validator needs to check a whole path in hard-fail mode."""
        return [self.crl_der(name) for name in CA_NAMES]

    def ca_der(self, name: str) -> bytes:
        """A CA certificate, DER: "root", "people" or "services"."""
        return self.ca(name).cert.public_bytes(serialization.Encoding.DER)

    def trust_roots_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def asn1_trust_roots(self) -> list[asn1_x509.Certificate]:
        """The root as pyhanko_certvalidator wants it: despite its docstring, it refuses PEM or DER bytes."""
        return [_to_asn1(self.root)]

    def validation_context(self, *, with_crls: bool = True, **options: Any) -> ValidationContext:
        """A pyhanko_certvalidator context trusting this root, knowing the issuing CAs and (by default) every
        CA's current CRL; `options` go to ValidationContext (revocation_mode="hard-fail", moment=..., ...)."""
        return ValidationContext(
            trust_roots=self.asn1_trust_roots(),
            other_certs=[_to_asn1(cert) for cert in self.intermediates()],
            crls=self.crls_der() if with_crls else None,
            **options,
        )

    def crl_url(self, issuer: str) -> str:
        return f"{self.base_url}/pki/crl/{issuer}.crl"

    def ca_url(self, issuer: str) -> str:
        return f"{self.base_url}/pki/ca/{issuer}.cer"

    # -- building blocks ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads, then other processes sharing the folder (flock, outermost level only)."""
        with self._lock:
            self._depth += 1
            try:
                if self._depth == 1 and sys.platform != "win32":
                    with open(self.folder / ".lock", "a") as handle:
                        fcntl.flock(handle, fcntl.LOCK_EX)
                        try:
                            yield
                        finally:
                            fcntl.flock(handle, fcntl.LOCK_UN)
                else:
                    yield
            finally:
                self._depth -= 1

    def _name(self, common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.org[:64]),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            ]
        )

    def _load_cas(self) -> None:
        root = self._load("root", ())
        if root is None:
            if any((self.folder / f"{name}.crt.pem").exists() for name in ("people", "services")):
                raise PKIError(f"{self.folder}: issuing CAs without their root; remove the folder to start over")
            root = self._create_root()
        self._cas["root"] = root
        for name in ("people", "services"):
            ca = self._load(name, (root.cert,))
            if ca is None:
                ca = self._create_issuing_ca(name, root)
            elif not _issued_by(ca.cert, root.cert):
                raise PKIError(f"{self.folder}: {name}.crt.pem was not issued by root.crt.pem")
            self._cas[name] = ca

    def _create_root(self) -> Issued[PrivateKey]:
        key = _new_key()
        subject = self._name(CA_COMMON_NAMES["root"])
        start = _now() - CLOCK_SKEW
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        root = Issued(cert, key)
        self._save("root", root)
        return root

    def _create_issuing_ca(self, name: CAName, root: Issued[PrivateKey]) -> Issued[PrivateKey]:
        start = _now() - CLOCK_SKEW
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_key_usage(key_cert_sign=True, crl_sign=True), True),
        ]
        ca = self._issue(
            "root", self._name(CA_COMMON_NAMES[name]), start, root.cert.not_valid_after_utc, extensions, ca=True
        )
        self._save(name, ca)
        return ca

    def _issue(
        self,
        issuer_name: CAName,
        subject: x509.Name,
        not_before: datetime,
        not_after: datetime,
        extensions: list[tuple[x509.ExtensionType, bool]],
        *,
        ca: bool = False,
    ) -> Issued[PrivateKey]:
        """Sign a certificate for a new key; a certificate never outlives its issuer."""
        key = _new_key()
        issued = self._issue_for(
            issuer_name, subject, not_before, not_after, extensions, public_key=key.public_key(), ca=ca
        )
        return Issued(issued.cert, key, issued.chain)

    def _issue_for(
        self,
        issuer_name: CAName,
        subject: x509.Name,
        not_before: datetime,
        not_after: datetime,
        extensions: list[tuple[x509.ExtensionType, bool]],
        *,
        public_key: PublicKey,
        ca: bool = False,
    ) -> Issued[None]:
        """Sign a certificate for `public_key`; a certificate never outlives its issuer."""
        issuer = self._cas[issuer_name]
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(min(not_after, issuer.cert.not_valid_after_utc))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(self.crl_url(issuer_name))], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(self.ca_url(issuer_name)),
                        )
                    ]
                ),
                critical=False,
            )
        )
        if not ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        cert = builder.sign(issuer.key, hashes.SHA256())
        # Every certificate is recorded (public part only) so that revoke() finds its issuer.
        _write(self.folder / "issued" / f"{cert.serial_number:x}.pem", cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert, None, (issuer.cert, *issuer.chain))

    def _service_cert(self, kind: ServiceCert) -> Issued[PrivateKey]:
        with self._lock:
            current = self._services.get(kind)
            if current is not None and self._still_good(kind, current):
                return current
        with self._locked():
            current = self._load(kind, (self._cas["services"].cert, self.root))
            if current is None or not self._still_good(kind, current):
                current = self._issue_service_cert(kind)
                self._save(kind, current)
            self._services[kind] = current
            return current

    def _agency_subject(self, name: str, agency_code: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name[:64]),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, agency_code),
                x509.NameAttribute(NameOID.COMMON_NAME, name[:64]),
            ]
        )

    def _agency_still_good(self, issued: Issued[PrivateKey], subject: x509.Name) -> bool:
        return (
            issued.cert.not_valid_after_utc - RENEW_BEFORE > _now()
            and issued.cert.subject == subject
            and _crl_urls(issued.cert) == [self.crl_url("services")]
            and _issued_by(issued.cert, self._cas["services"].cert)
            and not self.is_revoked(issued.serial)
        )

    def _service_subject(self, kind: ServiceCert) -> x509.Name:
        return self._name(self.org if kind == "seal" else "Dev TSA (dấu thời gian)")

    def _still_good(self, kind: ServiceCert, issued: Issued[PrivateKey]) -> bool:
        return (
            issued.cert.not_valid_after_utc - RENEW_BEFORE > _now()
            and issued.cert.subject == self._service_subject(kind)
            and _crl_urls(issued.cert) == [self.crl_url("services")]
            and _issued_by(issued.cert, self._cas["services"].cert)
            and not self.is_revoked(issued.serial)
            and (kind != "seal" or _has_eku(issued.cert, ExtendedKeyUsageOID.EMAIL_PROTECTION))
        )

    def _issue_service_cert(self, kind: ServiceCert) -> Issued[PrivateKey]:
        start = _now() - CLOCK_SKEW
        extensions: list[tuple[x509.ExtensionType, bool]]
        if kind == "seal":
            extensions = [
                (_key_usage(digital_signature=True, content_commitment=True), True),
                (
                    x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.EMAIL_PROTECTION, OID_MS_DOCUMENT_SIGNING, OID_DOCUMENT_SIGNING]
                    ),
                    False,
                ),
            ]
        else:
            extensions = [
                (_key_usage(digital_signature=True, content_commitment=True), True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),  # RFC 3161 §2.3: critical
            ]
        return self._issue(
            "services", self._service_subject(kind), start, start + timedelta(days=SERVICE_CERT_DAYS), extensions
        )

    def _load(self, name: str, chain: tuple[x509.Certificate, ...]) -> Issued[PrivateKey] | None:
        cert_path, key_path = self.folder / f"{name}.crt.pem", self.folder / f"{name}.key.pem"
        if not cert_path.exists():
            return None
        if not key_path.exists():
            raise PKIError(f"{cert_path} has no key {key_path.name}")
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise PKIError(f"{key_path}: only RSA and EC keys are supported")
        if _spki(key.public_key()) != _spki(cert.public_key()):
            raise PKIError(f"{key_path} does not match {cert_path.name}")
        return Issued(cert, key, chain)

    def _save(self, name: str, issued: Issued[PrivateKey]) -> None:
        # Key first: a certificate on disk always has its key next to it.
        _write(self.folder / f"{name}.key.pem", issued.key_pem(), private=True)
        _write(self.folder / f"{name}.crt.pem", issued.cert_pem())

    def _issuer_of(self, serial: int) -> CAName:
        path = self.folder / "issued" / f"{serial:x}.pem"
        if not path.exists():
            if serial == self.root.serial_number:
                raise ValueError("the root cannot be revoked; remove the PKI folder to start over")
            raise UnknownCertificate(f"no certificate with serial {serial:x} was issued here")
        issuer = x509.load_pem_x509_certificate(path.read_bytes()).issuer
        for name, ca in self._cas.items():
            if ca.cert.subject == issuer:
                return name
        raise UnknownCertificate(f"certificate {serial:x} was issued by a CA this PKI no longer has")

    def _revocations(self) -> dict[str, dict[str, dict[str, str]]]:
        """revoked.json ({ca: {serial: {reason, when}}}), reread only when another process changed it."""
        path = self.folder / "revoked.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return {}
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._revoked_cache is None or self._revoked_cache[0] != version:
                self._revoked_cache = (version, json.loads(path.read_bytes()))
            return self._revoked_cache[1]


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _reason_flag(reason: str) -> x509.ReasonFlags:
    """A revocation reason by Python name ("key_compromise") or RFC 5280 name ("keyCompromise")."""
    flag = x509.ReasonFlags.__members__.get(reason)
    if flag is None:
        flag = next((f for f in x509.ReasonFlags if f.value == reason), None)
    if flag is None or flag is x509.ReasonFlags.remove_from_crl:
        raise ValueError(f"unknown revocation reason {reason!r}")
    return flag


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write atomically (temporary file, then rename); private files are created 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


_app_lock = threading.Lock()


def get_pki(app: Any) -> DevPKI:
    """The app's development PKI (storage_dir/pki, settings.base_url), loaded once and kept on app.state."""
    pki: DevPKI | None = getattr(app.state, "dev_pki", None)
    if pki is None:
        with _app_lock:
            pki = getattr(app.state, "dev_pki", None)
            if pki is None:
                settings = app_settings(app)
                pki = DevPKI.load_or_create(settings.storage_dir / "pki", base_url=settings.base_url)
                app.state.dev_pki = pki
    return pki
