"""The development PKI, its CRLs and its RFC 3161 timestamp authority, in-process and over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import socket
import stat
import threading
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from asn1crypto import algos, cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import ExpiredError, RevokedError

import portal.app
from portal.app import create_app
from portal.kernel.settings import Settings
from signing import pki_views
from signing.pki import (
    OID_DOCUMENT_SIGNING,
    OID_MS_DOCUMENT_SIGNING,
    DevPKI,
    Issued,
    UnknownCertificate,
    get_pki,
)
from signing.tsa import DEV_TSA_POLICY, DevTimeStamper, TimeStampResponse

CCCD = "001099012345"


def _validate(issued: Issued, context: ValidationContext) -> object:
    validator = CertificateValidator(
        issued.asn1_cert(), intermediate_certs=issued.asn1_chain(), validation_context=context
    )
    return asyncio.run(validator.async_validate_usage({"non_repudiation"}))


def _query(digest: bytes, *, algorithm: str = "sha256", **fields: object) -> tsp.TimeStampReq:
    imprint = tsp.MessageImprint(
        {"hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}), "hashed_message": digest}
    )
    return tsp.TimeStampReq({"version": "v1", "message_imprint": imprint, "cert_req": True, **fields})


async def _check_token(pki: DevPKI, token: cms.ContentInfo, digest: bytes) -> dict[str, object]:
    context = pki.validation_context(revocation_mode="hard-fail")
    return await validate_tst_signed_data(token["content"], context, lambda _algorithm: digest)


# -- the hierarchy, kept in a folder ---------------------------------------------------------------------


def test_second_load_reuses_everything(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    first = DevPKI.load_or_create(folder, base_url="http://portal.test")
    seal, tsa = first.seal(), first.tsa()

    again = DevPKI.load_or_create(folder, base_url="http://portal.test")

    assert again.root == first.root
    assert again.ca_der("people") == first.ca_der("people")
    assert again.seal().cert == seal.cert and again.tsa().cert == tsa.cert
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for key_file in folder.glob("*.key.pem"):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_concurrent_first_start_creates_one_root(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: DevPKI.load_or_create(folder, base_url="http://t"), range(4)))
    assert len({pki.root.fingerprint(hashes.SHA256()) for pki in loaded}) == 1


def test_new_base_url_reissues_service_certificates_under_the_same_root(tmp_path: Path) -> None:
    first = DevPKI.load_or_create(tmp_path, base_url="http://old.test")
    old_seal = first.seal()

    moved = DevPKI.load_or_create(tmp_path, base_url="https://dvc.example.vn/")
    new_seal = moved.seal()

    assert moved.root == first.root
    assert new_seal.serial != old_seal.serial
    points = new_seal.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "https://dvc.example.vn/pki/crl/services.crl"


def test_hierarchy(dev_pki: DevPKI) -> None:
    root, people, services = (dev_pki.ca(name).cert for name in ("root", "people", "services"))
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.issuer == root.subject
    assert timedelta(days=3649) < root.not_valid_after_utc - root.not_valid_before_utc
    assert people.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Dev CA công dân"
    for ca in (people, services):
        ca.verify_directly_issued_by(root)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
    assert dev_pki.trust_roots_pem().startswith(b"-----BEGIN CERTIFICATE-----")
    assert x509.load_der_x509_certificate(dev_pki.ca_der("root")) == root
    with pytest.raises(ValueError, match="unknown CA"):
        dev_pki.ca_der("nope")


# -- certificates ----------------------------------------------------------------------------------------


def test_person_certificate_fields(dev_pki: DevPKI) -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết")
    person = dev_pki.issue_person(full_name=decomposed, cccd=CCCD)
    cert = person.cert

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Thị Ánh Tuyết"  # NFC
    common_name = next(a for rdn in person.asn1_cert().subject.chosen for a in rdn if a["type"].native == "common_name")
    assert common_name["value"].name == "utf8_string"
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "CCCD:" + CCCD
    assert cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == "CCCD:" + CCCD
    key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and key_usage.value.content_commitment
    assert not key_usage.value.key_cert_sign
    purposes = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {ExtendedKeyUsageOID.EMAIL_PROTECTION, OID_MS_DOCUMENT_SIGNING, OID_DOCUMENT_SIGNING} <= purposes
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [p.full_name[0].value for p in points] == ["http://testserver/pki/crl/people.crl"]
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_location.value for a in access] == ["http://testserver/pki/ca/people.cer"]
    assert person.chain == (dev_pki.ca("people").cert, dev_pki.root)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 730
    assert person.cert_pem().startswith(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("full_name", "cccd", "message"),
    [("  ", CCCD, "full_name"), ("Lê Văn A", "12345", "cccd"), ("Lê Văn A", "00109901234x", "cccd")],
)
def test_person_refuses_bad_identity(dev_pki: DevPKI, full_name: str, cccd: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dev_pki.issue_person(full_name=full_name, cccd=cccd)


def test_pkcs12_loads_in_pyhanko(dev_pki: DevPKI, tmp_path: Path) -> None:
    person = dev_pki.issue_person(full_name="Trần Văn Bình", cccd=CCCD)
    pfx = tmp_path / "citizen.p12"
    pfx.write_bytes(person.pkcs12(b"mat-khau-1", friendly_name="Trần Văn Bình"))

    signer = SimpleSigner.load_pkcs12(str(pfx), passphrase=b"mat-khau-1")

    assert signer is not None
    assert signer.signing_cert.dump() == person.asn1_cert().dump()
    assert {c.dump() for c in signer.cert_registry} >= {c.dump() for c in person.asn1_chain()}
    assert SimpleSigner.load_pkcs12(str(pfx), passphrase=b"wrong") is None


def test_seal_and_tsa(dev_pki: DevPKI) -> None:
    seal, tsa = dev_pki.seal(), dev_pki.tsa()

    assert dev_pki.seal() is seal and dev_pki.tsa() is tsa
    assert seal.chain == (dev_pki.ca("services").cert, dev_pki.root)
    assert seal.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == dev_pki.org
    eku = tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


# -- revocation ------------------------------------------------------------------------------------------


def test_revoked_fails_good_passes_expired_is_reported(dev_pki: DevPKI) -> None:
    good = dev_pki.issue_person(full_name="Phạm Thị Hoa", cccd=CCCD)
    revoked = dev_pki.issue_person(full_name="Đỗ Văn Cường", cccd="079201000123")
    expired = dev_pki.issue_person(
        full_name="Võ Minh Đức", cccd=CCCD, valid_from=datetime.now(UTC) - timedelta(days=3), valid_days=1
    )
    dev_pki.revoke(revoked.serial)
    crls = [dev_pki.crl_der("people"), dev_pki.crl_der("root")]

    def context() -> ValidationContext:
        return ValidationContext(trust_roots=dev_pki.asn1_trust_roots(), crls=crls, revocation_mode="hard-fail")

    assert _validate(good, context())
    with pytest.raises(RevokedError, match="compromised key"):
        _validate(revoked, context())
    with pytest.raises(ExpiredError):
        _validate(expired, context())


def test_hard_fail_without_crls_fails(dev_pki: DevPKI) -> None:
    person = dev_pki.issue_person(full_name="Bùi Thu Hà", cccd=CCCD)
    with pytest.raises(Exception, match=r"revocation|CRL|OCSP"):
        _validate(person, dev_pki.validation_context(with_crls=False, revocation_mode="hard-fail"))


def test_crl(dev_pki: DevPKI) -> None:
    person = dev_pki.issue_person(full_name="Hoàng Lan", cccd=CCCD)
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    dev_pki.revoke(person.serial, reason="cessationOfOperation", when=when)
    dev_pki.revoke(person.serial)  # a second revocation keeps the first entry

    first = x509.load_der_x509_crl(dev_pki.crl_der("people"))
    second = x509.load_der_x509_crl(dev_pki.crl_der("people"))

    assert first.is_signature_valid(dev_pki.ca("people").key.public_key())
    assert first.issuer == dev_pki.ca("people").cert.subject
    assert first.next_update_utc - first.last_update_utc == timedelta(days=1)  # type: ignore[operator]
    entry = first.get_revoked_certificate_by_serial_number(person.serial)
    assert entry is not None and entry.revocation_date_utc == when
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.cessation_of_operation
    )
    number = x509.CRLNumber
    assert (
        second.extensions.get_extension_for_class(number).value.crl_number
        > first.extensions.get_extension_for_class(number).value.crl_number
    )
    assert (
        x509.load_der_x509_crl(dev_pki.crl_der("services")).get_revoked_certificate_by_serial_number(person.serial)
        is None
    )


def test_revocations_persist_and_revoked_service_certificates_are_replaced(tmp_path: Path) -> None:
    pki = DevPKI.load_or_create(tmp_path, base_url="http://t")
    tsa = pki.tsa()
    pki.revoke(tsa.serial, reason="superseded")

    reloaded = DevPKI.load_or_create(tmp_path, base_url="http://t")

    assert reloaded.is_revoked(tsa.serial)
    assert x509.load_der_x509_crl(reloaded.crl_der("services")).get_revoked_certificate_by_serial_number(tsa.serial)
    assert reloaded.tsa().serial != tsa.serial and pki.tsa().serial != tsa.serial


def test_revoke_refuses_what_it_cannot_revoke(dev_pki: DevPKI) -> None:
    with pytest.raises(UnknownCertificate):
        dev_pki.revoke(12345)
    with pytest.raises(ValueError, match="root"):
        dev_pki.revoke(dev_pki.root.serial_number)
    person = dev_pki.issue_person(full_name="Mai Anh", cccd=CCCD)
    with pytest.raises(ValueError, match="reason"):
        dev_pki.revoke(person.serial, reason="bored")
    with pytest.raises(ValueError, match="timezone"):
        dev_pki.revoke(person.serial, when=datetime(2025, 1, 1))


# -- the timestamp authority, in-process -----------------------------------------------------------------


def test_dev_timestamper_token_validates_to_the_root(dev_pki: DevPKI) -> None:
    digest = hashlib.sha256(b"bien nhan ho so").digest()

    async def run() -> tuple[cms.ContentInfo, dict[str, object]]:
        token = await DevTimeStamper(dev_pki).async_timestamp(digest, "sha256")
        return token, await _check_token(dev_pki, token, digest)

    token, status = asyncio.run(run())

    assert status["intact"] and status["valid"]
    assert status["signing_cert"].dump() == dev_pki.tsa().asn1_cert().dump()  # type: ignore[attr-defined]
    path = status["validation_path"]
    assert path.trust_anchor.authority.name == dev_pki.asn1_trust_roots()[0].subject  # type: ignore[attr-defined]
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["policy"].native == DEV_TSA_POLICY
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert abs(tst_info["gen_time"].native - datetime.now(UTC)) < timedelta(seconds=5)


def test_dev_timestamper_refusals(dev_pki: DevPKI) -> None:
    stamper = DevTimeStamper(dev_pki)
    cases = {
        "bad_alg": _query(hashlib.sha1(b"x").digest(), algorithm="sha1"),
        "bad_data_format": _query(b"short"),
        "unaccepted_policy": _query(bytes(32), req_policy="1.2.3.4"),
    }
    for fail_info, query in cases.items():
        reply = stamper.reply(query.dump())
        response = TimeStampResponse.load(reply.der)
        assert not reply.granted and reply.reason
        assert response["status"]["status"].native == "rejection"
        assert response["status"]["fail_info"].native == {fail_info}
    assert not stamper.reply(b"\x30\x03\x02\x01").granted
    with pytest.raises(TimestampRequestError, match="bad_alg"):
        asyncio.run(stamper.async_timestamp(hashlib.md5(b"x").digest(), "md5"))


def test_dev_timestamper_embeds_certificates_only_when_asked(dev_pki: DevPKI) -> None:
    stamper = DevTimeStamper(dev_pki.tsa(), fixed_time=datetime(2025, 6, 1, tzinfo=UTC))
    digest = hashlib.sha384(b"x").digest()
    asked = TimeStampResponse.load(stamper.reply(_query(digest, algorithm="sha384", nonce=7).dump()).der)
    not_asked = TimeStampResponse.load(stamper.reply(_query(digest, algorithm="sha384", cert_req=False).dump()).der)

    signed = asked["time_stamp_token"]["content"]
    assert {c.chosen.dump() for c in signed["certificates"]} == {
        dev_pki.tsa().asn1_cert().dump(),
        dev_pki.tsa().asn1_chain()[0].dump(),
    }
    tst_info = signed["encap_content_info"]["content"].parsed
    assert tst_info["nonce"].native == 7
    assert tst_info["gen_time"].native == datetime(2025, 6, 1, tzinfo=UTC)
    assert not not_asked["time_stamp_token"]["content"]["certificates"]


# -- HTTP ------------------------------------------------------------------------------------------------


def _settings(base: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "secret_key": secrets.token_urlsafe(48),
        "database_url": f"sqlite:///{base / 'portal.db'}",
        "storage_dir": base / "files",
        "base_url": "http://testserver",
        "worker_in_process": False,
        "gc_freeze": False,
        "page_cache_seconds": 0,
        **overrides,
    }
    return Settings(**values, _env_file=None)  # type: ignore[arg-type, call-arg]


def _with_pki_routes(app: FastAPI) -> FastAPI:
    """The app with the PKI router, whether or not create_app includes it yet."""
    included = any(
        getattr(route, "include_context", None) and route.include_context.included_router is pki_views.router  # type: ignore[attr-defined]
        for route in app.routes
    )
    if not included:
        app.include_router(pki_views.router)
    return app


@pytest.fixture(scope="module")
def pki_app(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPKI) -> FastAPI:
    app = _with_pki_routes(create_app(_settings(tmp_path_factory.mktemp("portal"))))
    app.state.dev_pki = dev_pki
    return app


@pytest.fixture()
def machine(pki_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """A client without a session, as a validator or pyHanko calls us: /pki/ must be CSRF-exempt."""
    if not "/pki/tsa".startswith(portal.app.CSRF_EXEMPT_PREFIXES):
        monkeypatch.setattr("portal.app.CSRF_EXEMPT_PREFIXES", (*portal.app.CSRF_EXEMPT_PREFIXES, "/pki/"))
    return TestClient(pki_app)


def test_tsa_over_http(machine: TestClient, dev_pki: DevPKI) -> None:
    digest = hashlib.sha256(b"to khai").digest()
    query = _query(digest, nonce=424242)

    response = machine.post("/pki/tsa", content=query.dump(), headers={"Content-Type": "application/timestamp-query"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/timestamp-reply"
    reply = TimeStampResponse.load(response.content)
    assert reply["status"]["status"].native == "granted"
    token = reply["time_stamp_token"]
    assert token["content"]["encap_content_info"]["content"].parsed["nonce"].native == 424242
    status = asyncio.run(_check_token(dev_pki, token, digest))
    assert status["intact"] and status["valid"]


@pytest.mark.parametrize("body", [b"", b"not der at all", b"\x30\x82\xff\xff", _query(bytes(20)).dump()])
def test_tsa_over_http_refuses_bad_queries_with_400(machine: TestClient, body: bytes) -> None:
    response = machine.post("/pki/tsa", content=body, headers={"Content-Type": "application/timestamp-query"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/timestamp-reply"
    assert TimeStampResponse.load(response.content)["status"]["status"].native == "rejection"


def test_tsa_over_http_wants_the_tsp_media_type_and_a_small_body(machine: TestClient) -> None:
    assert machine.post("/pki/tsa", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    huge = machine.post("/pki/tsa", content=bytes(64 * 1024), headers={"Content-Type": "application/timestamp-query"})
    assert huge.status_code == 413


def test_crl_and_ca_certificates_over_http(machine: TestClient, dev_pki: DevPKI) -> None:
    crl = machine.get("/pki/crl/people.crl")
    assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
    assert x509.load_der_x509_crl(crl.content).issuer == dev_pki.ca("people").cert.subject
    for name in ("root", "people", "services"):
        cer = machine.get(f"/pki/ca/{name}.cer")
        assert cer.status_code == 200 and cer.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(cer.content) == dev_pki.ca(name).cert
    assert machine.get("/pki/crl/seal.crl").status_code == 404
    assert machine.get("/pki/ca/..%2Froot.cer").status_code == 404


def test_get_pki_creates_the_pki_under_storage_once(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, base_url="http://portal.test"))

    pki = get_pki(app)

    assert get_pki(app) is pki
    assert (tmp_path / "files" / "pki" / "root.crt.pem").exists()
    assert pki.crl_url("people") == "http://portal.test/pki/crl/people.crl"


def test_pki_routes_do_not_exist_in_production(tmp_path: Path) -> None:
    app = _with_pki_routes(create_app(_settings(tmp_path, environment="production", payment_gateways=[])))
    client = TestClient(app)

    assert client.get("/pki/ca/root.cer").status_code == 404
    assert not (tmp_path / "files" / "pki").exists()


# -- against a real server: pyHanko's HTTP timestamp client and CRL fetching ------------------------------


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DevPKI]]:
    """The app served by uvicorn on a free port, with a PKI whose URLs point at it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    base = tmp_path_factory.mktemp("live")
    app = _with_pki_routes(create_app(_settings(base, base_url=url)))
    pki = app.state.dev_pki = DevPKI.load_or_create(base / "pki", base_url=url)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    with pytest.MonkeyPatch.context() as patch:
        if not "/pki/tsa".startswith(portal.app.CSRF_EXEMPT_PREFIXES):
            patch.setattr("portal.app.CSRF_EXEMPT_PREFIXES", (*portal.app.CSRF_EXEMPT_PREFIXES, "/pki/"))
        thread.start()
        deadline = time.monotonic() + 5
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        try:
            yield url, pki
        finally:
            server.should_exit = True
            thread.join(5)
            listener.close()


def test_pyhanko_http_timestamper_and_crl_fetching(live_server: tuple[str, DevPKI]) -> None:
    url, pki = live_server
    digest = hashlib.sha256(b"ho so truc tuyen").digest()
    person = pki.issue_person(full_name="Ngô Bảo Châu", cccd=CCCD)
    revoked = pki.issue_person(full_name="Lý Thường Kiệt", cccd=CCCD)
    pki.revoke(revoked.serial)

    async def validate(issued: Issued) -> object:
        # Only the root is given: the issuing CA comes from AIA caIssuers, the CRLs from the distribution points.
        context = ValidationContext(
            trust_roots=pki.asn1_trust_roots(), allow_fetching=True, revocation_mode="hard-fail"
        )
        async with contextlib.aclosing(context):
            return await CertificateValidator(issued.asn1_cert(), validation_context=context).async_validate_usage(
                {"non_repudiation"}
            )

    async def run() -> None:
        token = await HTTPTimeStamper(f"{url}/pki/tsa").async_timestamp(digest, "sha256")
        status = await _check_token(pki, token, digest)
        assert status["intact"] and status["valid"]
        assert await validate(person)
        with pytest.raises(RevokedError):
            await validate(revoked)

    asyncio.run(run())


def test_a_configured_seal_signs_with_an_http_tsa_in_production(
    live_server: tuple[str, DevPKI], tmp_path: Path
) -> None:
    """PORTAL_SIGNING_SEAL_P12 + PORTAL_SIGNING_TRUST_ROOTS + PORTAL_SIGNING_TSA_URL: a province's own seal."""
    from portal.kernel.settings import Settings
    from signing.seal import get_sealer
    from signing.verify import verify_pdf
    from tests.signing.helpers import make_test_pdf

    url, pki = live_server
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(pki.seal().pkcs12(b"mat-khau-dau"))
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pki.trust_roots_pem())
    settings = Settings(
        environment="production",
        secret_key="x" * 48,
        storage_dir=tmp_path / "files",
        signing_seal_p12=p12,
        signing_seal_passphrase="mat-khau-dau",
        signing_trust_roots=[roots],
        signing_tsa_url=url + "/pki/tsa",
        _env_file=None,  # type: ignore[call-arg]
    )
    sealer = get_sealer(settings)
    assert sealer is not None
    sealed = sealer.seal(make_test_pdf("Giấy tiếp nhận hồ sơ")).pdf
    report = verify_pdf(sealed, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    assert report.signatures[0].has_timestamp and report.signatures[0].timestamp_valid
    assert report.signatures[0].ltv  # the CRLs were fetched from the CA's URLs and embedded (B-LT)
    # Without a TSA the configuration is refused rather than producing a seal without a timestamp.
    with pytest.raises(Exception, match="TSA"):
        get_sealer(settings.model_copy(update={"signing_tsa_url": "", "base_url": "http://other"}))
