"""The VNPay 2.1.0 redirect protocol: hashing, the payment URL, return/IPN parsing, querydr, and a real HTTP
round trip through the fake VNPay."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from payments.gateways import vnpay_protocol as vp
from tests.payments.fake_vnpay import FakeVnpay, ThreadedServer

SECRET = "TESTSECRETTESTSECRETTESTSECRET42"
TMN = "DVCTEST1"
CREATED = datetime(2025, 3, 1, 2, 30, 0, tzinfo=UTC)  # 09:30:00 in Hà Nội


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _url(**kw: Any) -> str:
    args: dict[str, Any] = {
        "base_url": "https://sandbox.vnpayment.vn/",
        "tmn_code": TMN,
        "secret": SECRET,
        "amount_vnd": 150_000,
        "txn_ref": "HS-0001-1",
        "order_info": "Nop le phi ho so HS-0001",
        "return_url": "https://dichvucong.example.vn/thanh-toan/vnpay/return?x=1",
        "ip_addr": "203.0.113.7",
        "locale": "vn",
        "created_at": CREATED,
        "expires_at": CREATED + timedelta(minutes=15),
        **kw,
    }
    return vp.build_payment_url(**args)


def _callback(**changes: str) -> dict[str, str]:
    params = {
        "vnp_Amount": "15000000",
        "vnp_BankCode": "NCB",
        "vnp_BankTranNo": "VNP14000001",
        "vnp_CardType": "ATM",
        "vnp_OrderInfo": "Nop le phi ho so HS-0001",
        "vnp_PayDate": "20250301093512",
        "vnp_ResponseCode": "00",
        "vnp_TmnCode": TMN,
        "vnp_TransactionNo": "14000001",
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": "HS-0001-1",
        **changes,
    }
    params["vnp_SecureHash"] = vp.secure_hash(params, SECRET)
    return params


# -- hashing


def test_hash_matches_a_hand_computed_hmac_sha512() -> None:
    params = {
        "vnp_Version": "2.1.0",
        "vnp_TxnRef": "HS-0001",
        "vnp_OrderInfo": "Nop le phi ho so 2/2025",
        "vnp_Amount": "1000000",
        "vnp_SecureHash": "ignored",
        "vnp_SecureHashType": "HmacSHA512",
        "other": "not a vnp_ field",
    }
    data = "vnp_Amount=1000000&vnp_OrderInfo=Nop+le+phi+ho+so+2%2F2025&vnp_TxnRef=HS-0001&vnp_Version=2.1.0"
    assert vp.hash_data(params) == data
    expected = (
        "a1fe97087400368ab3abf23fe07950095818c51499fa4a7c8a278c53585a79fa"
        "ed98ddd30541aadeab4062e98c6c31ce79a5e375b89ed0213d290243bb7818fa"
    )  # openssl dgst -sha512 -hmac SECRET
    assert vp.secure_hash(params, "SECRET") == expected
    assert expected == hmac.new(b"SECRET", data.encode(), hashlib.sha512).hexdigest()


def test_hash_data_with_empty_fields_both_ways() -> None:
    params = {"vnp_Amount": "1000000", "vnp_BankTranNo": "", "vnp_TxnRef": "HS-0001", "vnp_SecureHash": "x"}
    assert vp.hash_data(params) == "vnp_Amount=1000000&vnp_BankTranNo=&vnp_TxnRef=HS-0001"  # PHP, Python samples
    assert vp.hash_data(params, skip_empty=True) == "vnp_Amount=1000000&vnp_TxnRef=HS-0001"  # Java, .NET samples
    java = hmac.new(b"SECRET", b"vnp_Amount=1000000&vnp_TxnRef=HS-0001", hashlib.sha512).hexdigest()
    assert vp.secure_hash(params, "SECRET", skip_empty=True) == java
    assert vp.secure_hash(params, "SECRET") != java
    # without empty fields the two forms are one
    full = {k: v for k, v in params.items() if v}
    assert vp.secure_hash(full, "SECRET") == vp.secure_hash(full, "SECRET", skip_empty=True) == java


# -- the payment URL


def test_payment_url_round_trip() -> None:
    url = _url(bank_code="NCB")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "sandbox.vnpayment.vn", "/paymentv2/vpcpay.html")
    q = _query(url)
    assert q["vnp_Amount"] == "15000000"  # đồng × 100
    assert q["vnp_Version"] == "2.1.0" and q["vnp_Command"] == "pay" and q["vnp_CurrCode"] == "VND"
    assert q["vnp_TmnCode"] == TMN and q["vnp_TxnRef"] == "HS-0001-1" and q["vnp_BankCode"] == "NCB"
    assert q["vnp_ReturnUrl"] == "https://dichvucong.example.vn/thanh-toan/vnpay/return?x=1"
    assert q["vnp_OrderInfo"] == "Nop le phi ho so HS-0001" and q["vnp_OrderType"] == "other"
    assert q["vnp_CreateDate"] == "20250301093000" and q["vnp_ExpireDate"] == "20250301094500"  # GMT+7
    assert vp.verify(q, SECRET)
    assert not vp.verify({**q, "vnp_Amount": "100"}, SECRET)
    # the signed string is the query itself, parameters sorted
    assert parts.query.split("&vnp_SecureHash=")[0] == vp.hash_data(q)
    assert "vnp_BankCode" not in _query(_url())


def test_naive_datetimes_are_utc() -> None:
    assert vp.format_date(datetime(2025, 3, 1, 17, 0, 0)) == "20250302000000"


@pytest.mark.parametrize("bad", [{"amount_vnd": 0}, {"amount_vnd": 10.5}, {"amount_vnd": True}, {"locale": "fr"}])
def test_payment_url_rejects_bad_arguments(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _url(**bad)


def test_plain_order_info_strips_diacritics() -> None:
    assert vp.plain_order_info("Nộp lệ phí  hồ sơ — Đăng ký") == "Nop le phi ho so Dang ky"


# -- return URL / IPN


def test_success_callback() -> None:
    result = vp.parse_callback(_callback(), secret=SECRET, tmn_code=TMN)
    assert result == vp.VnpayResult(
        txn_ref="HS-0001-1",
        amount_vnd=150_000,
        response_code="00",
        transaction_status="00",
        transaction_no="14000001",
        bank_code="NCB",
        pay_date=datetime(2025, 3, 1, 9, 35, 12, tzinfo=vp.VN_TZ),
        ok=True,
    )
    assert result.pay_date == datetime(2025, 3, 1, 2, 35, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("response_code", "status", "cancelled", "expired"),
    [("24", "02", True, False), ("51", "02", False, False), ("11", "02", False, True), ("07", "00", False, False)],
)
def test_unsuccessful_callbacks(response_code: str, status: str, cancelled: bool, expired: bool) -> None:
    result = vp.parse_callback(
        _callback(vnp_ResponseCode=response_code, vnp_TransactionStatus=status), secret=SECRET, tmn_code=TMN
    )
    assert not result.ok
    assert (result.cancelled, result.expired) == (cancelled, expired)


def test_tampered_amount_is_a_bad_signature() -> None:
    params = _callback()
    params["vnp_Amount"] = "100"
    with pytest.raises(vp.BadSignature):
        vp.parse_callback(params, secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.BadSignature):
        vp.parse_callback(_callback(), secret="another secret", tmn_code=TMN)


def test_missing_hash_is_a_bad_signature() -> None:
    params = _callback()
    del params["vnp_SecureHash"]
    with pytest.raises(vp.BadSignature):
        vp.parse_callback(params, secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.BadSignature):
        vp.parse_callback({**params, "vnp_SecureHash": ""}, secret=SECRET, tmn_code=TMN)


def test_hash_is_compared_case_insensitively() -> None:
    params = _callback()
    params["vnp_SecureHash"] = params["vnp_SecureHash"].upper()
    assert vp.parse_callback(params, secret=SECRET, tmn_code=TMN).ok
    params["vnp_SecureHashType"] = "HmacSHA512"  # not signed
    assert vp.parse_callback(params, secret=SECRET, tmn_code=TMN).ok


def _signed(params: dict[str, str], *, skip_empty: bool) -> dict[str, str]:
    unsigned = {k: v for k, v in params.items() if k != "vnp_SecureHash"}
    return {**unsigned, "vnp_SecureHash": vp.secure_hash(unsigned, SECRET, skip_empty=skip_empty)}


@pytest.mark.parametrize("skip_empty", [False, True], ids=["php-python", "java-dotnet"])
def test_a_callback_with_empty_fields_is_accepted_signed_either_way(skip_empty: bool) -> None:
    params = _signed(_callback(vnp_BankTranNo="", vnp_CardType=""), skip_empty=skip_empty)
    result = vp.parse_callback(params, secret=SECRET, tmn_code=TMN)
    assert result.ok and result.amount_vnd == 150_000
    assert vp.verify(params, SECRET)


@pytest.mark.parametrize("skip_empty", [False, True], ids=["php-python", "java-dotnet"])
@pytest.mark.parametrize(
    "tamper",
    [
        {"vnp_Amount": "100"},  # a signed field changed
        {"vnp_BankTranNo": "VNP99"},  # an empty field filled in after signing
        {"vnp_CardType": ""},  # a signed field emptied after signing
        {"vnp_ResponseCode": "00", "vnp_TransactionStatus": "00", "vnp_BankTranNo": ""},
    ],
)
def test_a_tampered_callback_with_empty_fields_is_refused_either_way(skip_empty: bool, tamper: dict[str, str]) -> None:
    base = _callback(vnp_BankTranNo="", vnp_ResponseCode="24", vnp_TransactionStatus="02")
    if tamper.get("vnp_CardType") == "":
        base["vnp_CardType"] = "ATM"
    params = {**_signed(base, skip_empty=skip_empty), **tamper}
    with pytest.raises(vp.BadSignature):
        vp.parse_callback(params, secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.BadSignature):
        vp.parse_callback(_signed(base, skip_empty=skip_empty), secret="another secret", tmn_code=TMN)


def test_wrong_tmn_code_missing_fields_and_odd_amounts_are_protocol_errors() -> None:
    with pytest.raises(vp.ProtocolError, match="not ours"):
        vp.parse_callback(_callback(vnp_TmnCode="OTHER001"), secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.ProtocolError, match="vnp_TxnRef"):
        vp.parse_callback(_callback(vnp_TxnRef=""), secret=SECRET, tmn_code=TMN)
    params = _callback()
    del params["vnp_ResponseCode"]
    params["vnp_SecureHash"] = vp.secure_hash(params, SECRET)
    with pytest.raises(vp.ProtocolError, match="vnp_ResponseCode"):
        vp.parse_callback(params, secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.ProtocolError, match="multiple of 100"):
        vp.parse_callback(_callback(vnp_Amount="15000050"), secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.ProtocolError, match="whole number"):
        vp.parse_callback(_callback(vnp_Amount="-100"), secret=SECRET, tmn_code=TMN)
    with pytest.raises(vp.ProtocolError, match="date"):
        vp.parse_callback(_callback(vnp_PayDate="2025-03-01"), secret=SECRET, tmn_code=TMN)


def test_ipn_replies() -> None:
    assert vp.ipn_reply("00") == {"RspCode": "00", "Message": "Confirm Success"}
    assert vp.ipn_reply("01") == {"RspCode": "01", "Message": "Order not found"}
    assert vp.ipn_reply("02") == {"RspCode": "02", "Message": "Order already confirmed"}
    assert vp.ipn_reply("04") == {"RspCode": "04", "Message": "Invalid amount"}
    assert vp.ipn_reply("97") == {"RspCode": "97", "Message": "Invalid Checksum"}
    assert vp.ipn_reply("99") == {"RspCode": "99", "Message": "Unknown error"}
    with pytest.raises(ValueError):
        vp.ipn_reply("42")


# -- querydr


def test_querydr_request_hash() -> None:
    body = vp.querydr_request(
        tmn_code=TMN,
        secret=SECRET,
        txn_ref="HS-0001-1",
        order_info="Kiem tra HS-0001-1",
        transaction_date=CREATED,
        created_at=CREATED + timedelta(hours=1),
        ip_addr="203.0.113.7",
        request_id="req-1",
    )
    data = "req-1|2.1.0|querydr|DVCTEST1|HS-0001-1|20250301093000|20250301103000|203.0.113.7|Kiem tra HS-0001-1"
    assert body["vnp_SecureHash"] == hmac.new(SECRET.encode(), data.encode(), hashlib.sha512).hexdigest()
    assert body["vnp_Command"] == "querydr" and body["vnp_OrderInfo"] == "Kiem tra HS-0001-1"
    assert len(vp.querydr_request(**{**_qargs(), "request_id": None})["vnp_RequestId"]) == 32


def _qargs() -> dict[str, Any]:
    return {
        "tmn_code": TMN,
        "secret": SECRET,
        "txn_ref": "HS-0001-1",
        "order_info": "Kiem tra",
        "transaction_date": CREATED,
        "created_at": CREATED,
        "ip_addr": "127.0.0.1",
    }


def _querydr_answer(**changes: str) -> dict[str, str]:
    body = {
        "vnp_ResponseId": "4f2c",
        "vnp_Command": "querydr",
        "vnp_ResponseCode": "00",
        "vnp_Message": "QueryDR Success",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": "HS-0001-1",
        "vnp_Amount": "15000000",
        "vnp_OrderInfo": "Nop le phi ho so HS-0001",
        "vnp_BankCode": "NCB",
        "vnp_PayDate": "20250301093512",
        "vnp_TransactionNo": "14000001",
        "vnp_TransactionType": "01",
        "vnp_TransactionStatus": "00",
        "vnp_PromotionCode": "",
        "vnp_PromotionAmount": "",
        **changes,
    }
    body["vnp_SecureHash"] = vp.querydr_hash(body, vp.QUERYDR_RESPONSE_FIELDS, SECRET)
    return body


def test_querydr_response_is_verified() -> None:
    answer = _querydr_answer()
    data = (
        "4f2c|querydr|00|QueryDR Success|DVCTEST1|HS-0001-1|15000000|NCB|20250301093512|14000001|01|00"
        "|Nop le phi ho so HS-0001||"
    )
    assert answer["vnp_SecureHash"] == hmac.new(SECRET.encode(), data.encode(), hashlib.sha512).hexdigest()
    result = vp.parse_querydr_response(answer, secret=SECRET, tmn_code=TMN)
    assert result.ok and result.amount_vnd == 150_000 and result.transaction_no == "14000001"
    assert vp.parse_querydr_response({**answer, "vnp_SecureHash": answer["vnp_SecureHash"].upper()}, secret=SECRET)
    with pytest.raises(vp.BadSignature):
        vp.parse_querydr_response({**answer, "vnp_TransactionStatus": "02"}, secret=SECRET)
    with pytest.raises(vp.BadSignature):
        vp.parse_querydr_response({**answer, "vnp_Amount": "100"}, secret=SECRET)
    with pytest.raises(vp.ProtocolError):
        vp.parse_querydr_response(answer, secret=SECRET, tmn_code="OTHER001")
    pending = vp.parse_querydr_response(_querydr_answer(vnp_TransactionStatus="01", vnp_PayDate=""), secret=SECRET)
    assert pending.pending and not pending.ok and pending.pay_date is None
    with pytest.raises(vp.QueryFailed) as failed:
        vp.parse_querydr_response(_querydr_answer(vnp_ResponseCode="91"), secret=SECRET)
    assert failed.value.code == "91"


# -- refund


def _rargs(**kw: Any) -> dict[str, Any]:
    return {
        "tmn_code": TMN,
        "secret": SECRET,
        "txn_ref": "HS-0001-1",
        "amount_vnd": 50_000,
        "transaction_type": vp.REFUND_PARTIAL,
        "transaction_no": "14000001",
        "transaction_date": CREATED,
        "create_by": "dichvucong",
        "ip_addr": "203.0.113.7",
        "order_info": "Hoan tien HS-0001-1",
        "created_at": CREATED + timedelta(days=1, hours=1),
        "request_id": "rf-1",
        **kw,
    }


def test_refund_request_hash_known_answer() -> None:
    body = vp.refund_request(**_rargs())
    data = (
        "rf-1|2.1.0|refund|DVCTEST1|03|HS-0001-1|5000000|14000001|20250301093000|dichvucong|20250302103000"
        "|203.0.113.7|Hoan tien HS-0001-1"
    )
    expected = (
        "6afc5e8640656c9281f643e75b1093274a78bd11d6168bbfd4ff51b0ac7c23535a3f71b05d18c24c587af158b57a48cd"
        "e578e454c9d7d86c7991d4a837cec03b"
    )  # printf '%s' "$data" | openssl dgst -sha512 -hmac SECRET
    assert body["vnp_SecureHash"] == expected
    assert expected == hmac.new(SECRET.encode(), data.encode(), hashlib.sha512).hexdigest()
    assert body == {
        "vnp_RequestId": "rf-1",
        "vnp_Version": "2.1.0",
        "vnp_Command": "refund",
        "vnp_TmnCode": TMN,
        "vnp_TransactionType": "03",
        "vnp_TxnRef": "HS-0001-1",
        "vnp_Amount": "5000000",
        "vnp_TransactionNo": "14000001",
        "vnp_TransactionDate": "20250301093000",
        "vnp_CreateBy": "dichvucong",
        "vnp_CreateDate": "20250302103000",
        "vnp_IpAddr": "203.0.113.7",
        "vnp_OrderInfo": "Hoan tien HS-0001-1",
        "vnp_SecureHash": expected,
    }


def test_refund_request_defaults() -> None:
    body = vp.refund_request(**_rargs(transaction_no=None, request_id=None, transaction_type=vp.REFUND_FULL))
    assert body["vnp_TransactionNo"] == "0"  # VNPay then finds the payment by vnp_TxnRef and vnp_TransactionDate
    assert len(body["vnp_RequestId"]) == 32 and body["vnp_RequestId"].isalnum()
    assert body["vnp_TransactionType"] == "02"
    assert body["vnp_SecureHash"] == vp.querydr_hash(body, vp.REFUND_REQUEST_FIELDS, SECRET)


@pytest.mark.parametrize(
    "bad",
    [{"amount_vnd": 0}, {"amount_vnd": -5}, {"amount_vnd": 1.5}, {"transaction_type": "01"}, {"create_by": ""}],
)
def test_refund_request_rejects_bad_arguments(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        vp.refund_request(**_rargs(**bad))


def _refund_answer(**changes: str) -> dict[str, str]:
    body = {
        "vnp_ResponseId": "9a1b",
        "vnp_Command": "refund",
        "vnp_ResponseCode": "00",
        "vnp_Message": "Refund success",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": "HS-0001-1",
        "vnp_Amount": "5000000",
        "vnp_OrderInfo": "Hoan tien HS-0001-1",
        "vnp_BankCode": "NCB",
        "vnp_PayDate": "20250302103005",
        "vnp_TransactionNo": "14000002",
        "vnp_TransactionType": "03",
        "vnp_TransactionStatus": "05",
        **changes,
    }
    body["vnp_SecureHash"] = vp.querydr_hash(body, vp.REFUND_RESPONSE_FIELDS, SECRET)
    return body


def test_refund_response_known_answer() -> None:
    answer = _refund_answer()
    assert answer["vnp_SecureHash"] == (
        "1a3922b77bd4523c4b224ddf5a1bf3b93be674279c575ceaa7860f48b257bf3cd08083b07fd778e261bf719a16b99fe9"
        "223ec25a2665671a6f6db82fcfcc59b7"
    )  # openssl, over 9a1b|refund|00|Refund success|DVCTEST1|HS-0001-1|5000000|NCB|20250302103005|14000002|03|05|...
    refund = vp.parse_refund_response(answer, secret=SECRET, tmn_code=TMN)
    assert refund == vp.VnpayRefund(
        txn_ref="HS-0001-1",
        amount_vnd=50_000,
        transaction_no="14000002",
        transaction_type="03",
        transaction_status="05",
        bank_code="NCB",
        pay_date=datetime(2025, 3, 2, 10, 30, 5, tzinfo=vp.VN_TZ),
        message="Refund success",
    )
    assert not refund.rejected
    assert vp.parse_refund_response({**answer, "vnp_SecureHash": answer["vnp_SecureHash"].upper()}, secret=SECRET)
    assert vp.parse_refund_response(_refund_answer(vnp_TransactionStatus="09"), secret=SECRET).rejected


@pytest.mark.parametrize(
    "tamper",
    [
        {"vnp_Amount": "15000000"},
        {"vnp_ResponseCode": "94"},
        {"vnp_TransactionNo": "14000003"},
        {"vnp_TxnRef": "HS-0002-1"},
        {"vnp_SecureHash": ""},
        {"vnp_SecureHash": "0" * 128},
    ],
)
def test_tampered_refund_response_is_a_bad_signature(tamper: dict[str, str]) -> None:
    with pytest.raises(vp.BadSignature):
        vp.parse_refund_response({**_refund_answer(), **tamper}, secret=SECRET)
    answer = _refund_answer()
    del answer["vnp_SecureHash"]
    with pytest.raises(vp.BadSignature):
        vp.parse_refund_response(answer, secret=SECRET)
    with pytest.raises(vp.BadSignature):
        vp.parse_refund_response(_refund_answer(), secret="another secret")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("94", "Duplicate request"),
        ("91", "Transaction not found"),
        ("02", "Merchant is not valid"),
        ("95", "Transaction is not successful"),
        ("99", "Unknown error"),
    ],
)
def test_refund_error_codes(code: str, message: str) -> None:
    answer = {"vnp_ResponseId": "77", "vnp_Command": "refund", "vnp_ResponseCode": code, "vnp_Message": message}
    answer["vnp_TmnCode"] = TMN
    answer["vnp_SecureHash"] = vp.querydr_hash(answer, vp.REFUND_RESPONSE_FIELDS, SECRET)
    with pytest.raises(vp.RefundFailed) as failed:
        vp.parse_refund_response(answer, secret=SECRET, tmn_code=TMN)
    assert (failed.value.code, failed.value.message) == (code, message)
    # an error answer is signed too: a forged one is not believed
    with pytest.raises(vp.BadSignature):
        vp.parse_refund_response({**answer, "vnp_ResponseCode": "00"}, secret=SECRET)


def test_refund_response_protocol_errors() -> None:
    with pytest.raises(vp.ProtocolError, match="another merchant"):
        vp.parse_refund_response(_refund_answer(), secret=SECRET, tmn_code="OTHER001")
    with pytest.raises(vp.ProtocolError, match="not a refund"):
        vp.parse_refund_response(_refund_answer(vnp_Command="querydr"), secret=SECRET)
    with pytest.raises(vp.ProtocolError, match="vnp_Amount"):
        vp.parse_refund_response(_refund_answer(vnp_Amount=""), secret=SECRET)
    with pytest.raises(vp.ProtocolError, match="multiple of 100"):
        vp.parse_refund_response(_refund_answer(vnp_Amount="5000050"), secret=SECRET)
    # a querydr answer cannot pass for a refund answer: the two hashes cover different fields
    with pytest.raises(vp.BadSignature):
        vp.parse_refund_response(_querydr_answer(), secret=SECRET)


# -- through the fake VNPay, over HTTP


class Merchant:
    """A tiny merchant IPN endpoint that answers as the portal will."""

    def __init__(self, fake: FakeVnpay) -> None:
        self.fake = fake
        self.received: list[vp.VnpayResult] = []
        self.confirmed: set[str] = set()
        self.server = ThreadedServer(Starlette(routes=[Route("/ipn", self.ipn)]))

    async def ipn(self, request: Request) -> JSONResponse:
        try:
            result = vp.parse_callback(request.query_params, secret=self.fake.secret, tmn_code=self.fake.tmn_code)
        except vp.BadSignature:
            return JSONResponse(vp.ipn_reply(vp.IPN_INVALID_SIGNATURE))
        except vp.ProtocolError:
            return JSONResponse(vp.ipn_reply(vp.IPN_UNKNOWN_ERROR))
        if result.txn_ref in self.confirmed:
            return JSONResponse(vp.ipn_reply(vp.IPN_ALREADY_CONFIRMED))
        self.received.append(result)
        self.confirmed.add(result.txn_ref)
        return JSONResponse(vp.ipn_reply(vp.IPN_CONFIRM_SUCCESS))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVnpay]:
    server = FakeVnpay(tmn_code=TMN, secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def merchant(fake: FakeVnpay) -> Iterator[Merchant]:
    m = Merchant(fake)
    m.server.start()
    fake.ipn_url = m.server.url + "/ipn"
    yield m
    m.server.stop()


def _live_url(fake: FakeVnpay, txn_ref: str, **kw: Any) -> str:
    return vp.build_payment_url(**{**_live_args(fake, txn_ref), **kw})


def test_pay_through_the_fake(fake: FakeVnpay, merchant: Merchant) -> None:
    with httpx.Client(base_url=fake.base_url, timeout=5) as browser:
        page = browser.get(_live_url(fake, "LIVE-1"))
        assert page.status_code == 200 and "LIVE-1" in page.text and "150.000 VND" in page.text
        done = browser.post("/paymentv2/pay", data={"txn_ref": "LIVE-1", "choice": "pay"})
    assert done.status_code == 302
    location = done.headers["location"]
    assert location.startswith("http://portal.invalid/thanh-toan/vnpay/return?")
    result = vp.parse_callback(_query(location), secret=SECRET, tmn_code=TMN)
    assert result.ok and result.txn_ref == "LIVE-1" and result.amount_vnd == 150_000
    # the IPN reached the merchant, which confirmed it
    assert merchant.received == [result]
    assert fake.transactions["LIVE-1"].ipn_replies == [vp.ipn_reply("00")]
    # a duplicate IPN is answered 02, a forged one 97
    assert fake.send_ipn("LIVE-1").reply == vp.ipn_reply("02")
    assert fake.send_ipn("LIVE-1", tamper={"vnp_Amount": "100"}).reply == vp.ipn_reply("97")
    # querydr agrees
    with httpx.Client(timeout=5) as api:
        body = vp.querydr_request(**{**_qargs(), "txn_ref": "LIVE-1"})
        answer = api.post(fake.base_url + vp.QUERYDR_PATH, json=body).json()
        again = api.post(fake.base_url + vp.QUERYDR_PATH, json=body).json()
        unknown = api.post(fake.base_url + vp.QUERYDR_PATH, json=vp.querydr_request(**_qargs())).json()
    queried = vp.parse_querydr_response(answer, secret=SECRET, tmn_code=TMN)
    assert queried.ok and queried.transaction_no == result.transaction_no and queried.amount_vnd == 150_000
    with pytest.raises(vp.QueryFailed, match="94"):
        vp.parse_querydr_response(again, secret=SECRET)
    with pytest.raises(vp.QueryFailed, match="91"):
        vp.parse_querydr_response(unknown, secret=SECRET)


def test_an_ipn_with_empty_fields_is_confirmed_signed_either_way(fake: FakeVnpay, merchant: Merchant) -> None:
    with httpx.Client(base_url=fake.base_url, timeout=5) as browser:
        assert browser.get(_live_url(fake, "LIVE-E1")).status_code == 200
    fake.settle("LIVE-E1", "pay")
    for skip_empty in (True, False):  # Java/.NET then PHP/Python: the first is confirmed, the second is a repeat
        call = fake.send_ipn("LIVE-E1", overrides={"vnp_BankTranNo": "", "vnp_CardType": ""}, skip_empty=skip_empty)
        assert call.params["vnp_BankTranNo"] == ""
        expected = vp.secure_hash({k: v for k, v in call.params.items() if v}, SECRET)
        assert (call.params["vnp_SecureHash"] == expected) is skip_empty
    assert fake.transactions["LIVE-E1"].ipn_replies == [vp.ipn_reply("00"), vp.ipn_reply("02")]
    assert merchant.received[-1].txn_ref == "LIVE-E1" and merchant.received[-1].ok
    forged = fake.send_ipn("LIVE-E1", overrides={"vnp_BankTranNo": ""}, tamper={"vnp_BankTranNo": "X"}, skip_empty=True)
    assert forged.reply == vp.ipn_reply("97")
    fake.skip_empty = True  # set up to sign the Java way: the return URL is believed as well
    try:
        back = vp.parse_callback(
            _query(fake.return_url("LIVE-E1", overrides={"vnp_CardType": ""})), secret=SECRET, tmn_code=TMN
        )
    finally:
        fake.skip_empty = False
    assert back.ok and back.txn_ref == "LIVE-E1"


def test_cancel_and_decline_through_the_fake(fake: FakeVnpay, merchant: Merchant) -> None:
    with httpx.Client(base_url=fake.base_url, timeout=5) as browser:
        for ref, choice, code in (("LIVE-2", "cancel", "24"), ("LIVE-3", "decline", "51")):
            assert browser.get(_live_url(fake, ref)).status_code == 200
            pending = vp.querydr_request(**{**_qargs(), "txn_ref": ref})
            queried = browser.post(vp.QUERYDR_PATH, json=pending).json()
            assert vp.parse_querydr_response(queried, secret=SECRET).pending
            done = browser.post("/paymentv2/pay", data={"txn_ref": ref, "choice": choice})
            result = vp.parse_callback(_query(done.headers["location"]), secret=SECRET, tmn_code=TMN)
            assert not result.ok and result.response_code == code
            assert fake.transactions[ref].ipn_replies == [vp.ipn_reply("00")]
        # a settled reference cannot be paid again
        assert browser.get(_live_url(fake, "LIVE-2")).status_code == 400


def test_the_fake_rejects_a_bad_request(fake: FakeVnpay) -> None:
    url = _live_url(fake, "LIVE-4")
    with httpx.Client(timeout=5) as browser:
        assert browser.get(url.replace("vnp_Amount=15000000", "vnp_Amount=100")).status_code == 400
        assert browser.get(_live_url(fake, "LIVE-4", tmn_code="OTHER001")).status_code == 400
        past = datetime.now(UTC) - timedelta(hours=1)
        expired = _live_url(fake, "LIVE-4", created_at=past - timedelta(minutes=15), expires_at=past)
        assert browser.get(expired).status_code == 400
    assert "LIVE-4" not in fake.transactions


def test_refund_through_the_fake(fake: FakeVnpay, merchant: Merchant) -> None:
    with httpx.Client(base_url=fake.base_url, timeout=5) as http:
        for ref, choice in (("LIVE-5", "pay"), ("LIVE-6", "decline")):
            assert http.get(_live_url(fake, ref)).status_code == 200
            assert http.post("/paymentv2/pay", data={"txn_ref": ref, "choice": choice}).status_code == 302
        txn = fake.transactions["LIVE-5"]

        def refund(**kw: Any) -> dict[str, Any]:
            base = {"txn_ref": "LIVE-5", "transaction_no": txn.transaction_no, "request_id": None}
            args = _rargs(**{**base, "transaction_date": vp.parse_date(txn.create_date), **kw})
            answer: dict[str, Any] = http.post(vp.REFUND_PATH, json=vp.refund_request(**args)).json()
            return answer

        first = vp.parse_refund_response(refund(request_id="LIVE5R1"), secret=SECRET, tmn_code=TMN)
        assert (first.amount_vnd, first.transaction_type, first.txn_ref) == (50_000, "03", "LIVE-5")
        assert first.transaction_no == fake.refunds[-1].transaction_no != txn.transaction_no
        assert fake.refunded("LIVE-5") == 5_000_000
        failures = {
            "94": refund(request_id="LIVE5R1"),  # the same request again
            "99": refund(amount_vnd=100_001),  # more than is left
            "91": refund(txn_ref="LIVE-404"),
            "02": refund(tmn_code="OTHER001"),
            "95": refund(  # declined: nothing to give back
                txn_ref="LIVE-6",
                transaction_no=None,
                transaction_date=vp.parse_date(fake.transactions["LIVE-6"].create_date),
            ),
            "03": refund(amount_vnd=150_000, transaction_type=vp.REFUND_FULL),  # full after a partial one
        }
        for code, answer in failures.items():
            with pytest.raises(vp.RefundFailed) as failed:
                vp.parse_refund_response(answer, secret=SECRET, tmn_code=TMN)
            assert failed.value.code == code
        wrong_secret = vp.refund_request(**{**_rargs(txn_ref="LIVE-5"), "secret": "another secret"})
        assert http.post(vp.REFUND_PATH, json=wrong_secret).json()["vnp_ResponseCode"] == "97"
        assert len(fake.refunds) == 1
        rest = vp.parse_refund_response(refund(amount_vnd=100_000), secret=SECRET, tmn_code=TMN)
        assert rest.amount_vnd == 100_000 and fake.refunded("LIVE-5") == 15_000_000


def test_the_fake_fails_and_delays_on_demand(fake: FakeVnpay) -> None:
    with httpx.Client(base_url=fake.base_url, timeout=5) as http:
        fake.fail_next("pay_page")
        assert http.get(_live_url(fake, "LIVE-7")).status_code == 500
        assert "LIVE-7" not in fake.transactions
        assert http.get(_live_url(fake, "LIVE-7")).status_code == 200
        fake.fail_next("querydr", n=2)
        fake.fail_next("refund")
        body = vp.querydr_request(**{**_qargs(), "txn_ref": "LIVE-7"})
        refund = vp.refund_request(**_rargs(txn_ref="LIVE-7"))
        assert http.post(vp.REFUND_PATH, json=refund).status_code == 500  # only refunds fail
        assert http.post(vp.QUERYDR_PATH, json=body).status_code == 500
        assert http.post(vp.QUERYDR_PATH, json=body).status_code == 500
        answer = http.post(vp.QUERYDR_PATH, json=body)
        assert answer.status_code == 200 and vp.parse_querydr_response(answer.json(), secret=SECRET).pending
        fake.delay_next("querydr", 1.0)
        with pytest.raises(httpx.ReadTimeout):
            http.post(vp.QUERYDR_PATH, json=vp.querydr_request(**{**_qargs(), "txn_ref": "LIVE-7"}), timeout=0.2)
        assert http.post(vp.QUERYDR_PATH, json=vp.querydr_request(**_qargs()), timeout=0.5).status_code == 200


def _live_args(fake: FakeVnpay, txn_ref: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "base_url": fake.base_url,
        "tmn_code": TMN,
        "secret": SECRET,
        "amount_vnd": 150_000,
        "txn_ref": txn_ref,
        "order_info": "Nop le phi ho so",
        "return_url": "http://portal.invalid/thanh-toan/vnpay/return",
        "ip_addr": "127.0.0.1",
        "locale": "vn",
        "created_at": now,
        "expires_at": now + timedelta(minutes=15),
    }
