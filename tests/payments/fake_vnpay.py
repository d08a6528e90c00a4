"""A protocol-accurate VNPay (PAY 2.1.0) sandbox, served over real HTTP in a thread.

It plays VNPay's side of the redirect protocol (see ``payments.gateways.vnpay_protocol``):

* ``GET /paymentv2/vpcpay.html`` checks the merchant's request (hash, version, command, merchant code,
  currency, amount, expiry) — anything wrong gives an error page with status 400 — records the transaction
  and shows a tiny page with three buttons;
* ``POST /paymentv2/pay`` (form: ``txn_ref``, ``choice`` = ``pay|decline|cancel|expire``) settles it, calls
  the merchant's IPN URL server-to-server (if ``ipn_url`` is set and ``auto_ipn``), recording the merchant's
  JSON replies, then redirects the browser (302) to ``vnp_ReturnUrl`` with the signed result;
* ``POST /merchant_webapi/api/transaction`` answers querydr and refund (signed) from its own record. A refund
  is checked as VNPay documents it (hash 97, format 03, merchant 02, request id used before 94, unknown
  transaction 91, payment not successful 95); refunding more than was paid is answered 99 (VNPay documents no
  code for it).

Test hooks: ``fake.transactions``, ``fake.send_ipn(txn_ref, ...)`` to replay, duplicate or tamper with an
IPN (pass ``client=`` a Starlette/FastAPI ``TestClient`` to reach an app that is not served over HTTP),
``fake.result_params(txn_ref)`` / ``fake.return_url(txn_ref)`` for the browser leg, ``fake.ipn_log``,
``fake.refunds`` (refunds made), ``fake.fail_next(kind, n)`` (HTTP 500) and ``fake.delay_next(kind, seconds)``
(a slow answer, the request still handled afterwards) where kind is ``pay_page``, ``querydr`` or ``refund``.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from payments.gateways import vnpay_protocol as vp

# choice → (vnp_ResponseCode, vnp_TransactionStatus)
OUTCOMES: dict[str, tuple[str, str]] = {
    "pay": (vp.RESPONSE_SUCCESS, vp.STATUS_SUCCESS),
    "decline": (vp.RESPONSE_INSUFFICIENT_FUNDS, vp.STATUS_FAILED),
    "cancel": (vp.RESPONSE_CANCELLED, vp.STATUS_FAILED),
    "expire": (vp.RESPONSE_EXPIRED, vp.STATUS_FAILED),
}

HOOK_KINDS = ("pay_page", "querydr", "refund")


@dataclass
class IpnCall:
    txn_ref: str
    params: dict[str, str]
    status_code: int | None  # None: the merchant could not be reached
    reply: Any  # the merchant's JSON (or its text when not JSON, or the exception)


@dataclass
class FakeTransaction:
    txn_ref: str
    amount: int  # as on the wire: đồng × 100
    order_info: str
    return_url: str
    create_date: str
    expire_date: str
    bank_code: str = "NCB"
    response_code: str | None = None  # None while the customer is still on the payment page
    transaction_status: str = vp.STATUS_PENDING
    transaction_no: str = "0"
    pay_date: str | None = None
    bank_tran_no: str | None = None
    ipn_replies: list[Any] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.response_code is not None


@dataclass
class FakeRefund:
    txn_ref: str
    amount: int  # as on the wire: đồng × 100
    transaction_type: str  # 02 full, 03 partial
    transaction_no: str  # VNPay's number for the refund
    request_id: str
    create_by: str
    order_info: str


class FakeVnpay:
    def __init__(
        self,
        tmn_code: str = "DVCTEST1",
        secret: str = "FAKESECRETFAKESECRETFAKESECRET01",
        *,
        skip_empty: bool = False,
    ) -> None:
        self.tmn_code, self.secret = tmn_code, secret
        # How results are signed: empty vnp_ fields kept in the signed string (VNPay's PHP and Python samples)
        # or left out of it (its Java and .NET samples). A merchant must accept both.
        self.skip_empty = skip_empty
        self.ipn_url: str | None = None
        self.auto_ipn = True
        self.ipn_client: httpx.Client | None = None  # None: a fresh httpx.Client per IPN
        self.transactions: dict[str, FakeTransaction] = {}
        self.ipn_log: list[IpnCall] = []
        self.querydr_requests: list[dict[str, Any]] = []
        self.refund_requests: list[dict[str, Any]] = []
        self.refunds: list[FakeRefund] = []
        self._request_ids: set[str] = set()
        self._failures: dict[str, int] = dict.fromkeys(HOOK_KINDS, 0)
        self._delays: dict[str, list[float]] = {kind: [] for kind in HOOK_KINDS}
        self._hooks_lock = threading.Lock()
        self._next_no = 14000000
        app = Starlette(
            routes=[
                Route(vp.PAY_PATH, self.pay_page),
                Route("/paymentv2/pay", self.pay, methods=["POST"]),
                Route(vp.QUERYDR_PATH, self.merchant_api, methods=["POST"]),
            ]
        )
        self._server = ThreadedServer(app)

    @property
    def base_url(self) -> str:
        return self._server.url

    def start(self) -> FakeVnpay:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # -- test hooks
    def fail_next(self, kind: str, n: int = 1) -> None:
        """Answer the next ``n`` requests of ``kind`` with HTTP 500, without handling them."""
        assert kind in HOOK_KINDS, kind
        with self._hooks_lock:
            self._failures[kind] += n

    def delay_next(self, kind: str, seconds: float) -> None:
        """Hold the next request of ``kind`` for ``seconds`` before handling it (as a slow VNPay would)."""
        assert kind in HOOK_KINDS, kind
        with self._hooks_lock:
            self._delays[kind].append(seconds)

    def refunded(self, txn_ref: str) -> int:
        """What was refunded on a transaction so far, as on the wire (đồng × 100)."""
        return sum(r.amount for r in self.refunds if r.txn_ref == txn_ref)

    async def _hooks(self, kind: str) -> Response | None:
        with self._hooks_lock:
            delay = self._delays[kind].pop(0) if self._delays[kind] else 0.0
            fail = self._failures[kind] > 0
            if fail:
                self._failures[kind] -= 1
        if delay:
            await asyncio.sleep(delay)
        return PlainTextResponse("Internal Server Error", status_code=500) if fail else None

    def settle(self, txn_ref: str, choice: str) -> FakeTransaction:
        """What the customer's button does: fix the outcome of a pending transaction."""
        txn = self.transactions[txn_ref]
        if txn.settled:
            return txn
        txn.response_code, txn.transaction_status = OUTCOMES[choice]
        if choice != "cancel":
            self._next_no += 1
            txn.transaction_no = str(self._next_no)
        if choice == "pay":
            txn.bank_tran_no = f"VNP{self._next_no}"
        txn.pay_date = vp.format_date(datetime.now(vp.VN_TZ))
        return txn

    def result_params(
        self,
        txn_ref: str,
        *,
        overrides: Mapping[str, str] | None = None,
        tamper: Mapping[str, str] | None = None,
        skip_empty: bool | None = None,
    ) -> dict[str, str]:
        """The signed result VNPay puts on the return URL and the IPN.

        ``overrides`` are applied before signing (a genuine message with other values), ``tamper`` after
        (a forged one). ``skip_empty`` signs without the empty fields (None: as the fake is set up).
        """
        txn = self.transactions[txn_ref]
        assert txn.settled, f"{txn_ref} is still pending"
        params = {
            "vnp_Amount": str(txn.amount),
            "vnp_BankCode": txn.bank_code,
            "vnp_CardType": "ATM",
            "vnp_OrderInfo": txn.order_info,
            "vnp_PayDate": txn.pay_date or "",
            "vnp_ResponseCode": txn.response_code or "",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionNo": txn.transaction_no,
            "vnp_TransactionStatus": txn.transaction_status,
            "vnp_TxnRef": txn.txn_ref,
        }
        if txn.bank_tran_no:
            params["vnp_BankTranNo"] = txn.bank_tran_no
        params.update(overrides or {})
        skip = self.skip_empty if skip_empty is None else skip_empty
        params["vnp_SecureHash"] = vp.secure_hash(params, self.secret, skip_empty=skip)
        params.update(tamper or {})
        return params

    def return_url(self, txn_ref: str, **kwargs: Any) -> str:
        txn = self.transactions[txn_ref]
        sep = "&" if "?" in txn.return_url else "?"
        return txn.return_url + sep + urlencode(self.result_params(txn_ref, **kwargs))

    def send_ipn(
        self,
        txn_ref: str,
        *,
        url: str | None = None,
        client: httpx.Client | None = None,
        overrides: Mapping[str, str] | None = None,
        tamper: Mapping[str, str] | None = None,
        skip_empty: bool | None = None,
    ) -> IpnCall:
        """Call the merchant's IPN URL as VNPay does (GET, signed query); record and return its answer."""
        target = url or self.ipn_url
        assert target, "no IPN URL configured on the fake"
        params = self.result_params(txn_ref, overrides=overrides, tamper=tamper, skip_empty=skip_empty)
        http = client or self.ipn_client
        try:
            if http is None:
                with httpx.Client(timeout=10) as fresh:
                    response = fresh.get(target, params=params)
            else:
                response = http.get(target, params=params)
        except httpx.HTTPError as exc:
            call = IpnCall(txn_ref, params, None, exc)
        else:
            try:
                reply: Any = response.json()
            except ValueError:
                reply = response.text
            call = IpnCall(txn_ref, params, response.status_code, reply)
        self.ipn_log.append(call)
        if txn_ref in self.transactions:
            self.transactions[txn_ref].ipn_replies.append(call.reply)
        return call

    # -- endpoints
    async def pay_page(self, request: Request) -> Response:
        if (failure := await self._hooks("pay_page")) is not None:
            return failure
        q = dict(request.query_params)
        problem = self._check_pay_request(q)
        if problem:
            return _page("Giao dịch không hợp lệ", f"<p id='error'>{html.escape(problem)}</p>", 400)
        ref = q["vnp_TxnRef"]
        txn = self.transactions.get(ref)
        if txn is not None and txn.settled:
            return _page("Giao dịch không hợp lệ", "<p id='error'>Giao dịch đã tồn tại</p>", 400)
        self.transactions[ref] = FakeTransaction(
            txn_ref=ref,
            amount=int(q["vnp_Amount"]),
            order_info=q["vnp_OrderInfo"],
            return_url=q["vnp_ReturnUrl"],
            create_date=q["vnp_CreateDate"],
            expire_date=q["vnp_ExpireDate"],
            bank_code=q.get("vnp_BankCode") or "NCB",
        )
        amount = f"{int(q['vnp_Amount']) // 100:,}".replace(",", ".")
        buttons = "".join(
            f"<button type='submit' name='choice' value='{c}'>{label}</button>"
            for c, label in (("pay", "Thanh toán"), ("decline", "Từ chối"), ("cancel", "Hủy"))
        )
        body = (
            f"<p>Đơn hàng <b id='txn'>{html.escape(ref)}</b>: {html.escape(q['vnp_OrderInfo'])}</p>"
            f"<p>Số tiền: <b id='amount'>{amount} VND</b></p>"
            f"<form method='post' action='/paymentv2/pay'>"
            f"<input type='hidden' name='txn_ref' value='{html.escape(ref, quote=True)}'>{buttons}</form>"
        )
        return _page("Cổng thanh toán VNPAY (giả lập)", body, 200)

    def _check_pay_request(self, q: dict[str, str]) -> str | None:
        if not vp.verify(q, self.secret):
            return "Sai chữ ký (Invalid signature)"
        required = [
            "vnp_Version",
            "vnp_Command",
            "vnp_TmnCode",
            "vnp_Amount",
            "vnp_CurrCode",
            "vnp_TxnRef",
            "vnp_OrderInfo",
            "vnp_OrderType",
            "vnp_Locale",
            "vnp_ReturnUrl",
            "vnp_IpAddr",
            "vnp_CreateDate",
            "vnp_ExpireDate",
        ]
        missing = [k for k in required if not q.get(k)]
        if missing:
            return "Thiếu tham số: " + ", ".join(missing)
        if q["vnp_Version"] != vp.VERSION or q["vnp_Command"] != "pay" or q["vnp_CurrCode"] != "VND":
            return "Sai phiên bản, lệnh hoặc loại tiền"
        if q["vnp_TmnCode"] != self.tmn_code:
            return "Website này chưa được phê duyệt (unknown vnp_TmnCode)"
        if q["vnp_Locale"] not in vp.LOCALES:
            return "Sai vnp_Locale"
        if not q["vnp_Amount"].isdigit() or int(q["vnp_Amount"]) % 100 or int(q["vnp_Amount"]) <= 0:
            return "Số tiền không hợp lệ"
        try:
            expires = vp.parse_date(q["vnp_ExpireDate"])
            vp.parse_date(q["vnp_CreateDate"])
        except vp.ProtocolError:
            return "Sai định dạng ngày"
        if expires < datetime.now(vp.VN_TZ):
            return "Giao dịch đã quá thời gian chờ thanh toán"
        return None

    async def pay(self, request: Request) -> Response:
        form = await request.form()
        ref, choice = str(form.get("txn_ref", "")), str(form.get("choice", ""))
        if ref not in self.transactions or choice not in OUTCOMES:
            return _page("Giao dịch không hợp lệ", "<p id='error'>Không tìm thấy giao dịch</p>", 400)
        self.settle(ref, choice)
        if self.ipn_url and self.auto_ipn:
            await run_in_threadpool(self.send_ipn, ref)
        return RedirectResponse(self.return_url(ref), status_code=302)

    async def merchant_api(self, request: Request) -> Response:
        try:
            body = await request.json()
            assert isinstance(body, dict)
        except Exception:
            return JSONResponse({"vnp_ResponseCode": "03", "vnp_Message": "Invalid data format"}, status_code=400)
        kind = "refund" if body.get("vnp_Command") == "refund" else "querydr"
        if (failure := await self._hooks(kind)) is not None:
            return failure
        return self.refund(body) if kind == "refund" else self.querydr(body)

    def querydr(self, body: dict[str, Any]) -> Response:
        self.querydr_requests.append(body)
        txn = self.transactions.get(str(body.get("vnp_TxnRef", "")))
        expected = vp.querydr_hash(body, vp.QUERYDR_REQUEST_FIELDS, self.secret)
        request_id = str(body.get("vnp_RequestId", ""))
        if str(body.get("vnp_SecureHash", "")).lower() != expected:
            code, message = "97", "Invalid Checksum"
        elif body.get("vnp_Command") != "querydr" or body.get("vnp_Version") != vp.VERSION or not request_id:
            code, message = "03", "Invalid data format"
        elif body.get("vnp_TmnCode") != self.tmn_code:
            code, message = "02", "Merchant is not valid"
        elif request_id in self._request_ids:
            code, message = "94", "Duplicate request"
        elif txn is None:
            code, message = "91", "Transaction not found"
        else:
            code, message = "00", "QueryDR Success"
        self._request_ids.add(request_id)
        answer: dict[str, str] = {
            "vnp_ResponseId": secrets.token_hex(16),
            "vnp_Command": "querydr",
            "vnp_ResponseCode": code,
            "vnp_Message": message,
            "vnp_TmnCode": self.tmn_code,
        }
        if code == "00" and txn is not None:
            answer.update(
                {
                    "vnp_TxnRef": txn.txn_ref,
                    "vnp_Amount": str(txn.amount),
                    "vnp_OrderInfo": txn.order_info,
                    "vnp_BankCode": txn.bank_code,
                    "vnp_PayDate": txn.pay_date or "",
                    "vnp_TransactionNo": txn.transaction_no,
                    "vnp_TransactionType": "01",
                    "vnp_TransactionStatus": txn.transaction_status,
                    "vnp_PromotionCode": "",
                    "vnp_PromotionAmount": "",
                }
            )
        answer["vnp_SecureHash"] = vp.querydr_hash(answer, vp.QUERYDR_RESPONSE_FIELDS, self.secret)
        return JSONResponse(answer)

    def refund(self, body: dict[str, Any]) -> Response:
        self.refund_requests.append(body)
        txn = self.transactions.get(str(body.get("vnp_TxnRef", "")))
        request_id = str(body.get("vnp_RequestId", ""))
        amount, kind = str(body.get("vnp_Amount", "")), body.get("vnp_TransactionType")
        transaction_no = str(body.get("vnp_TransactionNo") or "0")
        refund: FakeRefund | None = None
        if str(body.get("vnp_SecureHash", "")).lower() != vp.querydr_hash(body, vp.REFUND_REQUEST_FIELDS, self.secret):
            code, message = vp.API_INVALID_CHECKSUM, "Invalid Checksum"
        elif (
            body.get("vnp_Version") != vp.VERSION
            or not request_id
            or kind not in (vp.REFUND_FULL, vp.REFUND_PARTIAL)
            or not amount.isdigit()
            or int(amount) <= 0
            or int(amount) % 100
            or not body.get("vnp_CreateBy")
        ):
            code, message = vp.API_INVALID_FORMAT, "Invalid data format"
        elif body.get("vnp_TmnCode") != self.tmn_code:
            code, message = vp.API_INVALID_MERCHANT, "Merchant is not valid"
        elif request_id in self._request_ids:
            code, message = vp.API_DUPLICATE, "Duplicate request"
        elif (
            txn is None
            or body.get("vnp_TransactionDate") != txn.create_date
            or transaction_no not in ("0", txn.transaction_no)
        ):
            code, message = vp.API_NOT_FOUND, "Transaction not found"
        elif txn.transaction_status != vp.STATUS_SUCCESS:
            code, message = vp.API_NOT_REFUNDABLE, "Transaction is not successful"
        elif kind == vp.REFUND_FULL and (int(amount) != txn.amount or self.refunded(txn.txn_ref)):
            code, message = vp.API_INVALID_FORMAT, "Full refund amount must be the transaction amount"
        elif self.refunded(txn.txn_ref) + int(amount) > txn.amount:
            code, message = vp.API_OTHER_ERROR, "Refund amount exceeds the transaction amount"
        else:
            code, message = vp.API_SUCCESS, "Refund success"
            self._next_no += 1
            refund = FakeRefund(
                txn_ref=txn.txn_ref,
                amount=int(amount),
                transaction_type=str(kind),
                transaction_no=str(self._next_no),
                request_id=request_id,
                create_by=str(body.get("vnp_CreateBy", "")),
                order_info=str(body.get("vnp_OrderInfo", "")),
            )
            self.refunds.append(refund)
        if request_id:
            self._request_ids.add(request_id)
        answer: dict[str, str] = {
            "vnp_ResponseId": secrets.token_hex(16),
            "vnp_Command": "refund",
            "vnp_ResponseCode": code,
            "vnp_Message": message,
            "vnp_TmnCode": self.tmn_code,
        }
        if refund is not None and txn is not None:
            answer.update(
                {
                    "vnp_TxnRef": refund.txn_ref,
                    "vnp_Amount": str(refund.amount),
                    "vnp_OrderInfo": refund.order_info,
                    "vnp_BankCode": txn.bank_code,
                    "vnp_PayDate": vp.format_date(datetime.now(vp.VN_TZ)),
                    "vnp_TransactionNo": refund.transaction_no,
                    "vnp_TransactionType": refund.transaction_type,
                    "vnp_TransactionStatus": vp.STATUS_REFUND_PROCESSING,
                }
            )
        answer["vnp_SecureHash"] = vp.querydr_hash(answer, vp.REFUND_RESPONSE_FIELDS, self.secret)
        return JSONResponse(answer)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    doc = f"<!doctype html><html lang='vi'><meta charset='utf-8'><title>{title}</title><h1>{title}</h1>{body}</html>"
    return HTMLResponse(doc, status_code=status)


class ThreadedServer:
    """Any ASGI app served by uvicorn on a free 127.0.0.1 port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
