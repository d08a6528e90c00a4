"""A built-in RFC 3161 timestamp authority signing with the development PKI's TSA certificate.

pyHanko's DummyTimeStamper signs with RSA only, embeds the certificate whether asked or not and answers
every request; this one signs with the PKI's EC (or RSA) key, honours certReq, and refuses malformed
requests, weak hashes, foreign policies and unknown extensions with a TSP rejection instead of an error.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper

from signing.pki import DevPKI, Issued

# The development TSA's policy: an OID under 2.25 (ITU-T X.667, UUID-derived), which needs no registration.
DEV_TSA_POLICY = "2.25.317763199017335591951800681999575297350"
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64, "sha3_256": 32, "sha3_384": 48, "sha3_512": 64}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}


class TimeStampResponse(tsp.TimeStampResp):
    """TimeStampResp whose token is optional, as in RFC 3161: asn1crypto's own can neither build nor parse a
    rejection (it makes time_stamp_token mandatory). Load replies with this class."""

    _fields = [  # noqa: RUF012  (asn1crypto's schema format)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _Rejected(Exception):
    def __init__(self, fail_info: str, message: str) -> None:
        super().__init__(message)
        self.fail_info, self.message = fail_info, message


@dataclass(frozen=True)
class TimeStampReply:
    """A DER TimeStampResp and whether it grants a token."""

    der: bytes
    granted: bool
    reason: str = ""


class DevTimeStamper(TimeStamper):
    """A pyHanko TimeStamper that is its own TSA: pass it wherever pyHanko takes a `timestamper`.

    Built on a DevPKI it signs with the PKI's current TSA certificate (reissued when near expiry); built on
    an Issued it signs with that one. `fixed_time` pins genTime, for tests.
    """

    def __init__(self, tsa: DevPKI | Issued, *, fixed_time: datetime | None = None, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)
        self._source = tsa
        self.fixed_time = fixed_time

    def _issued(self) -> Issued:
        return self._source.tsa() if isinstance(self._source, DevPKI) else self._source

    def reply(self, query_der: bytes) -> TimeStampReply:
        """Answer a DER TimeStampReq, as the HTTP endpoint does; never raises for a bad request."""
        try:
            req = tsp.TimeStampReq.load(query_der, strict=True)
            req.native  # noqa: B018  (asn1crypto parses lazily; force it here, where errors are the client's)
        # asn1crypto reports malformed input with a variety of exception types; any of them means a bad query.
        except Exception:
            response = self._rejection("bad_data_format", "the body is not a DER TimeStampReq")
        else:
            response = self.request_tsa_response(req)
        status = response["status"]
        granted = status["status"].native == "granted"
        reason = "; ".join(status["status_string"].native or []) if not granted else ""
        return TimeStampReply(response.dump(), granted, reason)

    def request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Grant a token for a well-formed request, or say why not (RFC 3161 §2.4.2)."""
        try:
            md_algorithm = self._check(req)
        except _Rejected as rejected:
            return self._rejection(rejected.fail_info, rejected.message)
        issued = self._issued()
        tsa_cert = issued.asn1_cert()
        gen_time = self.fixed_time or datetime.now(UTC)
        tst_info = {
            "version": "v1",
            "policy": DEV_TSA_POLICY,
            "message_imprint": req["message_imprint"],
            "serial_number": secrets.randbits(127) | 1,  # positive, at most 16 octets, unique in practice
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "tsa": asn1_x509.GeneralName(name="directory_name", value=tsa_cert.subject),
        }
        if req["nonce"].native is not None:
            tst_info["nonce"] = req["nonce"]
        tst_info_der = tsp.TSTInfo(tst_info).dump()
        token = self._sign(issued, tsa_cert, tst_info_der, md_algorithm, include_certs=bool(req["cert_req"].native))
        return TimeStampResponse({"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token})

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.request_tsa_response(req)

    @staticmethod
    def _check(req: tsp.TimeStampReq) -> str:
        if req["version"].native != "v1":
            raise _Rejected("bad_request", "only version 1 requests are supported")
        imprint = req["message_imprint"]
        md_algorithm = imprint["hash_algorithm"]["algorithm"].native
        if md_algorithm not in DIGEST_SIZES:
            raise _Rejected("bad_alg", f"hash algorithm {md_algorithm} is not accepted; use SHA-256 or stronger")
        if len(imprint["hashed_message"].native) != DIGEST_SIZES[md_algorithm]:
            raise _Rejected("bad_data_format", f"the imprint is not a {md_algorithm} digest")
        policy = req["req_policy"].native
        if policy is not None and policy != DEV_TSA_POLICY:
            raise _Rejected("unaccepted_policy", f"this TSA issues tokens under policy {DEV_TSA_POLICY} only")
        if req["extensions"].native:
            raise _Rejected("unaccepted_extensions", "this TSA supports no request extensions")
        return str(md_algorithm)

    @staticmethod
    def _rejection(fail_info: str, message: str) -> TimeStampResponse:
        status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [message], "fail_info": {fail_info}})
        return TimeStampResponse({"status": status})

    @staticmethod
    def _sign(
        issued: Issued, tsa_cert: asn1_x509.Certificate, tst_info_der: bytes, md_algorithm: str, *, include_certs: bool
    ) -> cms.ContentInfo:
        """The SignedData around a TSTInfo: content type, digest and ESSCertIDv2 as signed attributes."""
        digest = hashes.Hash(HASHES[md_algorithm]())
        digest.update(tst_info_der)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("message_digest", digest.finalize()),
                simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(tsa_cert)),
            ]
        )
        to_sign = signed_attrs.dump()
        key = issued.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(to_sign, ec.ECDSA(HASHES[md_algorithm]()))
            signature_algorithm = f"{md_algorithm}_ecdsa"
        else:
            signature = key.sign(to_sign, padding.PKCS1v15(), HASHES[md_algorithm]())
            signature_algorithm = "rsassa_pkcs1v15"
        digest_algorithm = algos.DigestAlgorithm({"algorithm": md_algorithm})
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value=cms.IssuerAndSerialNumber(
                        {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
                    ),
                ),
                "digest_algorithm": digest_algorithm,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
                "signed_attrs": signed_attrs,
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": cms.DigestAlgorithms([digest_algorithm]),
            "encap_content_info": cms.EncapsulatedContentInfo(
                {"content_type": "tst_info", "content": core.ParsableOctetString(tst_info_der)}
            ),
            "signer_infos": [signer_info],
        }
        if include_certs:
            # The TSA certificate and its issuing CA: with only the root as trust anchor, the path is complete.
            signed_data["certificates"] = [tsa_cert, *issued.asn1_chain()[:-1]]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
