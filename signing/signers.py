"""Signer plugins: where a signing key lives (a PKCS#12 file, an HSM token, a province CA's signing service).

A plugin turns a key reference (``SigningCredential.key_ref``) into a pyHanko ``Signer``. pyHanko's
``Signer`` is the narrow contract: a remote-signing backend implements ``async_sign_raw`` and pyHanko
does the rest (CMS, PAdES attributes, timestamps).

Plugins hold caches (loaded keys, an open HSM session): build each one once, at startup, with
``get_plugin`` and keep it (``app.state``), rather than per signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import pkcs11
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.pkcs11 import open_pkcs11_session, select_pkcs11_signing_params
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from portal.kernel.plugins import Registry

log = logging.getLogger(__name__)


class SignerError(Exception):
    """A key cannot be reached: wrong configuration, missing file, wrong passphrase, token unavailable."""


class SignerPlugin(Protocol):
    """One backend for signing keys; the id is stored in the database (``SigningCredential.signer``)."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...

    def signer_for(self, key_ref: str) -> Signer:
        """The pyHanko signer for one key; raises SignerError if the key cannot be reached."""
        ...

    def check_config(self) -> None:
        """Raise SignerError if the configuration cannot work (run at startup and by `portal check`)."""
        ...

    def close(self) -> None:
        """Release what the plugin holds (sessions, cached keys)."""
        ...


registry: Registry[SignerPlugin] = Registry("signer plugin")
register = registry.register


def get_plugin(plugin_id: str, options: BaseModel | Mapping[str, Any] | None = None) -> SignerPlugin:
    """A new plugin instance with validated options; keep it, its caches are what make signing fast."""
    return registry.create(plugin_id, options)


# --- PKCS#12 files ---------------------------------------------------------------------------------

PassphraseSource = Callable[[str], str | bytes | None]


class Pkcs12Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    folder: Path
    """Where the .p12 files are; a key_ref is a path inside it (relative, or absolute but still inside)."""
    passphrases: Mapping[str, SecretStr] | PassphraseSource = Field(default_factory=dict)
    """key_ref → passphrase, or a callable key_ref → passphrase (None: the file is not encrypted)."""
    cache_size: int = Field(default=64, ge=1)
    """How many loaded keys to keep: loading a PKCS#12 file runs its key derivation, tens of milliseconds."""


@register("pkcs12")
class Pkcs12Plugin:
    """Keys in PKCS#12 files on local disk: the development and small-deployment backend."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = Pkcs12Options

    def __init__(self, options: Pkcs12Options) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._loading: dict[Path, threading.Lock] = {}
        # path -> ((mtime_ns, size), signer): a replaced file (renewed certificate) is loaded afresh
        self._cache: OrderedDict[Path, tuple[tuple[int, int], InMemoryKeySigner]] = OrderedDict()

    def check_config(self) -> None:
        if not self.options.folder.is_dir():
            raise SignerError(f"pkcs12: folder {self.options.folder} does not exist")

    def close(self) -> None:
        with self._lock:
            self._cache.clear()

    def path_for(self, key_ref: str) -> Path:
        folder = self.options.folder.resolve()
        path = (folder / key_ref).resolve()
        if not path.is_relative_to(folder):
            raise SignerError(f"pkcs12: key_ref {key_ref!r} is outside {folder}")
        return path

    def signer_for(self, key_ref: str) -> Signer:
        path = self.path_for(key_ref)
        try:
            st = path.stat()
        except OSError as e:
            raise SignerError(f"pkcs12: cannot read {key_ref!r}: {e.strerror}") from e
        version = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._cached(path, version)
            if cached is not None:
                return cached
            loading = self._loading.setdefault(path, threading.Lock())
        # One thread loads a given file while the others wait for it; other files load in parallel.
        with loading:
            with self._lock:
                cached = self._cached(path, version)
                if cached is not None:
                    return cached
            try:
                signer = self._load(key_ref, path)
            finally:
                with self._lock:
                    self._loading.pop(path, None)
            with self._lock:
                self._cache[path] = (version, signer)
                self._cache.move_to_end(path)
                while len(self._cache) > self.options.cache_size:
                    self._cache.popitem(last=False)
        return signer

    def _cached(self, path: Path, version: tuple[int, int]) -> InMemoryKeySigner | None:
        entry = self._cache.get(path)
        if entry is None or entry[0] != version:
            return None
        self._cache.move_to_end(path)
        return entry[1]

    def _passphrase(self, key_ref: str) -> bytes | None:
        source = self.options.passphrases
        if isinstance(source, Mapping):
            secret = source.get(key_ref)
            value: str | bytes | None = None if secret is None else secret.get_secret_value()
        else:
            value = source(key_ref)
        return value.encode() if isinstance(value, str) else value

    def _load(self, key_ref: str, path: Path) -> InMemoryKeySigner:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise SignerError(f"pkcs12: cannot read {key_ref!r}: {e.strerror}") from e
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(data, self._passphrase(key_ref))
        except ValueError as e:
            raise SignerError(f"pkcs12: cannot load {key_ref!r} (wrong passphrase or damaged file)") from e
        if key is None or cert is None:
            raise SignerError(f"pkcs12: {key_ref!r} holds no key and certificate")
        return InMemoryKeySigner(key, cert, chain)


class InMemoryKeySigner(SimpleSigner):
    """A SimpleSigner that parses its private key once, not on every signature.

    SimpleSigner.sign_raw reloads the key from DER each time; for RSA, cryptography's key check makes that
    45 ms (2048-bit) to 145 ms (3072-bit) per signature, as much as loading the PKCS#12 file again.
    """

    def __init__(
        self,
        key: PrivateKeyTypes,
        cert: x509.Certificate,
        chain: Iterable[x509.Certificate] = (),
        *,
        prefer_pss: bool = False,
    ) -> None:
        key_der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        certs = SimpleCertificateStore()
        certs.register_multiple([asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain])
        super().__init__(
            signing_cert=asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER)),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=certs,
            prefer_pss=prefer_pss,
        )
        self._key = key
        self._cert = cert
        self._chain = tuple(chain)
        self._prefer_pss = prefer_pss

    def fresh(self) -> InMemoryKeySigner:
        """The same key and certificates with asn1crypto objects of their own, for one signature.

        pyHanko puts the signer's certificate objects into every signature it builds, and asn1crypto objects
        change when they are read or encoded: a signer shared by threads signing at once must not lend them.
        The key (a cryptography object) is shared; this costs a few certificate parses.
        """
        return InMemoryKeySigner(self._key, self._cert, self._chain, prefer_pss=self._prefer_pss)

    def key_and_certificates(self) -> tuple[PrivateKeyTypes, x509.Certificate, tuple[x509.Certificate, ...]]:
        """The loaded key (shared, not reloaded), the certificate and its chain, for other signature formats
        (the audit trail's detached CMS statements)."""
        return self._key, self._cert, self._chain

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algorithm = mechanism.signature_algo
        except ValueError:  # asn1crypto knows no family for it (ML-DSA): let SimpleSigner handle it
            return super().sign_raw(data, digest_algorithm)
        key = self._key
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if algorithm == "rsassa_pss" and isinstance(key, rsa.RSAPrivateKey):
            pss, md = process_pss_params(mechanism["parameters"])
            return key.sign(data, pss, md)
        if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)  # EdDSA, ML-DSA: cheap to reload anyway


# --- PKCS#11 tokens (HSMs, smart cards, SoftHSM in development) ------------------------------------------

# Errors after which the session (and the object handles found in it) cannot be used: the token was
# reset or unplugged, the library re-initialised, the login dropped. The session is reopened once.
_SESSION_LOST: tuple[type[pkcs11.PKCS11Error], ...] = (
    pkcs11.SessionHandleInvalid,
    pkcs11.SessionClosed,
    pkcs11.DeviceRemoved,
    pkcs11.DeviceError,
    pkcs11.TokenNotPresent,
    pkcs11.TokenNotRecognised,
    pkcs11.UserNotLoggedIn,
    pkcs11.KeyHandleInvalid,
    pkcs11.ObjectHandleInvalid,
)

_T = TypeVar("_T")


class Pkcs11Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    module_path: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    token_label: str
    user_pin: SecretStr | None = None
    """None: the token authenticates by itself (PIN pad, or a session already logged in)."""
    ca_chain_file: Path | None = None
    """PEM with the issuing CA certificates, embedded in each signature so validators can build the path."""
    prefer_pss: bool = False


class _TokenSession:
    """One logged-in session to a token, shared by threads (one operation at a time), reopened if it breaks."""

    def __init__(self, options: Pkcs11Options) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._session: pkcs11.Session | None = None
        self._keys: dict[str, Any] = {}  # key label -> private key object, valid in the current session
        self._mechanisms: frozenset[pkcs11.Mechanism] | None = None

    def run(self, operation: Callable[[pkcs11.Session], _T]) -> _T:
        with self._lock:
            for attempt in (1, 2):
                session = self._open()
                try:
                    return operation(session)
                except _SESSION_LOST as e:
                    self._drop()
                    if attempt == 2:
                        raise
                    log.warning(
                        "pkcs11: lost the session to %r (%s), reopening", self.options.token_label, type(e).__name__
                    )
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._drop()

    def mechanisms(self, session: pkcs11.Session) -> frozenset[pkcs11.Mechanism]:
        if self._mechanisms is None:
            self._mechanisms = frozenset(session.token.slot.get_mechanisms())
        return self._mechanisms

    def private_key(self, session: pkcs11.Session, label: str) -> Any:
        key = self._keys.get(label)
        if key is None:
            found = list(
                session.get_objects(
                    {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.Attribute.LABEL: label}
                )
            )
            if len(found) != 1:
                raise SignerError(f"pkcs11: {len(found)} private keys labelled {label!r} on the token")
            key = self._keys[label] = found[0]
        return key

    def _open(self) -> pkcs11.Session:
        if self._session is None:
            pin = self.options.user_pin.get_secret_value() if self.options.user_pin is not None else None
            try:
                self._session = open_pkcs11_session(
                    str(self.options.module_path),
                    token_criteria=TokenCriteria(label=self.options.token_label),
                    user_pin=pin,
                )
            except pkcs11.PKCS11Error as e:
                raise SignerError(
                    f"pkcs11: cannot open token {self.options.token_label!r}: {type(e).__name__} {e}"
                ) from e
            self._keys.clear()
        return self._session

    def _drop(self) -> None:
        session, self._session = self._session, None
        self._keys.clear()
        if session is not None:
            with contextlib.suppress(pkcs11.PKCS11Error):
                session.close()


class TokenKeySigner(Signer):
    """A pyHanko signer for one key on a PKCS#11 token, signing through the plugin's shared session."""

    def __init__(
        self,
        token: _TokenSession,
        key_label: str,
        *,
        signing_cert: asn1_x509.Certificate,
        ca_chain: list[asn1_x509.Certificate],
        prefer_pss: bool,
    ) -> None:
        registry = SimpleCertificateStore()
        registry.register_multiple([signing_cert, *ca_chain])
        super().__init__(prefer_pss=prefer_pss, signing_cert=signing_cert, cert_registry=registry)
        self.key_label = key_label
        self._token = token

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        cert = self.signing_cert
        assert cert is not None
        if dry_run:
            return bytes(_raw_signature_size(cert))
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        md = digest_algorithm.lower()
        try:
            family = mechanism.signature_algo
        except ValueError:
            family = mechanism["algorithm"].native

        def sign(session: pkcs11.Session) -> bytes:
            spec = select_pkcs11_signing_params(mechanism, md, use_raw_mechanism=False, sign_kwargs={})
            can_go_raw = family in ("ecdsa", "rsassa_pkcs1v15")
            if can_go_raw and spec.sign_kwargs["mechanism"] not in self._token.mechanisms(session):
                # The token cannot hash (SoftHSM2 has no CKM_ECDSA_SHA256): hash here, sign raw on the token.
                spec = select_pkcs11_signing_params(mechanism, md, use_raw_mechanism=True, sign_kwargs={})
            payload = spec.pre_sign_transform(data) if spec.pre_sign_transform is not None else data
            raw: bytes = self._token.private_key(session, self.key_label).sign(payload, **spec.sign_kwargs)
            return spec.post_sign_transform(raw) if spec.post_sign_transform is not None else raw

        # The token call blocks: keep it off the event loop (pyHanko's own PKCS11Signer does the same).
        return await asyncio.to_thread(self._token.run, sign)


def _raw_signature_size(cert: asn1_x509.Certificate) -> int:
    bits = cert.public_key.bit_size
    if cert.public_key.algorithm == "ec":
        return 2 * ((bits + 7) // 8) + 9  # DER SEQUENCE of two INTEGERs, each possibly with a leading zero
    return (bits + 7) // 8


@register("pkcs11")
class Pkcs11Plugin:
    """Keys on a PKCS#11 token (an HSM in production, SoftHSM2 in development); key_ref is the key's label.

    The certificate is the token's certificate object with the same label.
    """

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = Pkcs11Options

    def __init__(self, options: Pkcs11Options) -> None:
        self.options = options
        self._token = _TokenSession(options)
        self._lock = threading.Lock()
        self._signers: dict[str, TokenKeySigner] = {}
        self._ca_chain: list[asn1_x509.Certificate] | None = None

    def check_config(self) -> None:
        if not self.options.module_path.is_file():
            raise SignerError(f"pkcs11: module {self.options.module_path} not found")
        self._chain()
        self._token.run(lambda session: session.token.label)

    def close(self) -> None:
        self._token.close()

    def signer_for(self, key_ref: str) -> Signer:
        with self._lock:
            signer = self._signers.get(key_ref)
            if signer is None:
                cert = self._token.run(lambda session: self._certificate(session, key_ref))
                signer = TokenKeySigner(
                    self._token, key_ref, signing_cert=cert, ca_chain=self._chain(), prefer_pss=self.options.prefer_pss
                )
                self._signers[key_ref] = signer
            return signer

    def _certificate(self, session: pkcs11.Session, label: str) -> asn1_x509.Certificate:
        found = list(
            session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE, pkcs11.Attribute.LABEL: label})
        )
        if len(found) != 1:
            raise SignerError(f"pkcs11: {len(found)} certificates labelled {label!r} on the token")
        return asn1_x509.Certificate.load(found[0][pkcs11.Attribute.VALUE])

    def _chain(self) -> list[asn1_x509.Certificate]:
        if self._ca_chain is None:
            chain_file = self.options.ca_chain_file
            try:
                self._ca_chain = list(load_certs_from_pemder([str(chain_file)])) if chain_file else []
            except (OSError, ValueError) as e:
                raise SignerError(f"pkcs11: cannot read CA chain {chain_file}: {e}") from e
        return self._ca_chain
