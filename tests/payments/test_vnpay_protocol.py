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
