"""A protocol-accurate fake of VNPost's customer order API, served over real HTTP in a thread.

It plays VNPost's side of the protocol the `vnpost` plugin speaks (docs/POSTAL_OPERATORS.md, "The VNPost
protocol"), under ``/MYVNP_API``:

* ``POST /customer-partner/CreateOrder`` checks the ``token`` header (401), the JSON body as VNPost would
  (customer code, order code, service, both parties with a Vietnamese phone and a commune of their province,
  weight 1..30000 g, COD 0..50,000,000 đồng, contents) — anything wrong is a 400 naming the field — and keeps
  the order. The same OrderCode again with the same content is answered as the first time (a client's retry);
  with other content it is 409, unless the first order was cancelled (the code may then be used again).
* ``GET /customer-partner/GetItemTracking?itemCode=…`` answers the item's events (404 for an unknown item).
* ``POST /customer-partner/orderCancel`` cancels an order not collected yet (400 once collected, 404 unknown).
* ``GET /proof/{item}.png`` serves the signature image of a delivered item (token needed).

Test hooks: ``fake.orders`` (by OriginalId), ``fake.order_of(item)``, ``fake.add_event(item, status, …)`` and
``fake.deliver(item, …)`` to advance tracking (times are aware datetimes; the API gives them in Vietnam time),
``fake.fail_next(kind, n)`` (HTTP 500 without handling), ``fake.delay_next(kind, seconds)`` (a slow answer,
the request still handled afterwards), ``fake.requests`` (kind, JSON body) where kind is ``create``,
``tracking``, ``cancel`` or ``proof``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from forms.address import is_ward_in_province, normalize_province_code
from portal.kernel.clock import LOCAL_TZ, utcnow
from tests.payments.fake_vnpay import ThreadedServer

PREFIX = "/MYVNP_API"
KINDS = ("create", "tracking", "cancel", "proof")
SERVICES = frozenset({"BCCI", "EMS", "BK"})
STATUS_NAMES = {
    1: "Tạo mới",
    6: "Nhận hàng thành công",
    7: "Bưu cục đã nhận hàng",
    9: "Hủy thu gom",
    10: "Đang vận chuyển",
    11: "Đến bưu cục",
    12: "Đang phát",
    14: "Phát thành công",
    15: "Phát không thành công",
    18: "Bắt đầu chuyển hoàn",
    19: "Chuyển hoàn thành công",
}
COLLECTED = 6  # from this status on, an order can no longer be cancelled
_PHONE = re.compile(r"0\d{9,10}")  # mobiles 10 digits, landlines 11
_ORDER_CODE = re.compile(r"[A-Za-z0-9_-]{1,30}")
MAX_WEIGHT = 30_000
MAX_COD = 50_000_000


def signature_png(text: str = "ky nhan") -> bytes:
    """A small signature image, as VNPost's handheld would store it."""
    image = Image.new("RGB", (240, 80), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(10, 60), (60, 20), (110, 55), (160, 25), (230, 50)], fill="black", width=3)
    draw.text((10, 5), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class FakeEvent:
    status: int
    at: datetime  # aware
    post_office: str = ""
    note: str = ""
    reason: str = ""
    receiver_name: str | None = None
    relation: str | None = None
    cod_amount: int | None = None
    image: bytes | None = None

    def document(self, base_url: str, item_code: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Status": self.status,
            "StatusName": STATUS_NAMES.get(self.status, str(self.status)),
            "TraceDate": self.at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            "PostOffice": self.post_office,
            "Note": self.note,
        }
        if self.reason:
            doc["Reason"] = self.reason
        if self.receiver_name is not None:
            doc["ReceiverName"] = self.receiver_name
        if self.relation is not None:
            doc["ReceiverRelation"] = self.relation
        if self.cod_amount is not None:
            doc["CODAmount"] = self.cod_amount
        if self.image is not None:
            doc["ProofImageUrl"] = f"{base_url}/proof/{item_code}.png"
        return doc


@dataclass
class FakeOrder:
    original_id: str
    item_code: str
    order_code: str
    body: dict[str, Any]
    cancelled: bool = False
    events: list[FakeEvent] = field(default_factory=list)

    @property
    def status(self) -> int:
        if self.cancelled:
            return 9
        return max(self.events, key=lambda e: e.at).status if self.events else 1


class FakeVnpost:
    def __init__(self, token: str = "vnpost-test-token", customer_code: str = "C000123") -> None:
        self.token, self.customer_code = token, customer_code
        self.orders: dict[str, FakeOrder] = {}
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._failures: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._delays: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self._serial = 10_000_000 + secrets.randbelow(80_000_000)
        app = Starlette(
            routes=[
                Route(PREFIX + "/customer-partner/CreateOrder", self.create, methods=["POST"]),
                Route(PREFIX + "/customer-partner/GetItemTracking", self.tracking, methods=["GET"]),
                Route(PREFIX + "/customer-partner/orderCancel", self.cancel, methods=["POST"]),
                Route(PREFIX + "/proof/{item}.png", self.proof, methods=["GET"]),
            ]
        )
        self._server = ThreadedServer(app)

    @property
    def base_url(self) -> str:
        return self._server.url + PREFIX

    def start(self) -> FakeVnpost:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def options(self, **overrides: Any) -> dict[str, Any]:
        """The plugin options that reach this fake."""
        return {"base_url": self.base_url, "token": self.token, "customer_code": self.customer_code, **overrides}

    # -- test hooks

    def fail_next(self, kind: str, n: int = 1) -> None:
        """Answer the next ``n`` requests of ``kind`` with HTTP 500, without handling them."""
        assert kind in KINDS, kind
        with self._lock:
            self._failures[kind] += n

    def delay_next(self, kind: str, seconds: float) -> None:
        """Answer the next request of ``kind`` after ``seconds`` (it is still handled)."""
        assert kind in KINDS, kind
        with self._lock:
            self._delays[kind].append(seconds)

    def order_of(self, item_code: str) -> FakeOrder:
        with self._lock:
            for order in self.orders.values():
                if order.item_code == item_code:
                    return order
        raise KeyError(item_code)

    def orders_with_code(self, order_code: str) -> list[FakeOrder]:
        with self._lock:
            return [o for o in self.orders.values() if o.order_code == order_code]

    def add_event(self, item_code: str, status: int, at: datetime | None = None, **details: Any) -> FakeEvent:
        """A tracking event on the item (at `at`, now by default), as VNPost's network would record it."""
        event = FakeEvent(status=status, at=at or utcnow(), **details)
        order = self.order_of(item_code)
        with self._lock:
            order.events.append(event)
        return event

    def deliver(
        self,
        item_code: str,
        *,
        at: datetime | None = None,
        receiver_name: str | None = None,
        relation: str | None = None,
        image: bool = True,
    ) -> FakeEvent:
        """Delivered (14), signed for by the receiver (the order's by default), with the COD collected."""
        order = self.order_of(item_code)
        cod = int(order.body.get("CODAmount") or 0)
        return self.add_event(
            item_code,
            14,
            at,
            post_office="Bưu cục phát Hoa Lư",
            receiver_name=receiver_name if receiver_name is not None else order.body["Receiver"]["FullName"],
            relation=relation,
            cod_amount=cod,
            image=signature_png() if image else None,
        )

    # -- the protocol

    async def _gate(self, kind: str, request: Request, body: Any = None) -> Response | None:
        """Token check, failure and delay hooks; None when the request is to be handled."""
        with self._lock:
            self.requests.append((kind, body))
            fail = self._failures[kind] > 0
            if fail:
                self._failures[kind] -= 1
            delay = self._delays[kind].pop(0) if self._delays[kind] else 0.0
        if delay:
            await asyncio.sleep(delay)
        if fail:
            return JSONResponse({"Code": "SYSTEM_ERROR", "Message": "Lỗi hệ thống"}, status_code=500)
        if request.headers.get("token") != self.token:
            return JSONResponse({"Code": "UNAUTHORIZED", "Message": "Token không hợp lệ"}, status_code=401)
        return None

    async def create(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        refused = await self._gate("create", request, body)
        if refused is not None:
            return refused
        if not isinstance(body, dict):
            return _invalid("INVALID_JSON", "Dữ liệu không phải JSON", "")
        problem = self._validate(body)
        if problem is not None:
            return problem
        code = body["OrderCode"]
        with self._lock:
            active = [o for o in self.orders.values() if o.order_code == code and not o.cancelled]
            if active:
                if active[0].body != body:
                    return JSONResponse(
                        {"Code": "ORDER_CODE_EXISTS", "Message": f"Mã đơn {code} đã tồn tại với nội dung khác"},
                        status_code=409,
                    )
                return JSONResponse(_answer(active[0]))
            self._serial += 1
            order = FakeOrder(
                original_id=secrets.token_hex(8),
                item_code=f"EB{self._serial:08d}{_s10_check(self._serial)}VN",
                order_code=code,
                body=body,
            )
            self.orders[order.original_id] = order
        return JSONResponse(_answer(order))

    def _validate(self, body: Mapping[str, Any]) -> Response | None:
        if body.get("CustomerCode") != self.customer_code:
            return _invalid("CUSTOMER_NOT_FOUND", "Mã khách hàng không đúng", "CustomerCode")
        if not isinstance(body.get("OrderCode"), str) or not _ORDER_CODE.fullmatch(body["OrderCode"]):
            return _invalid("INVALID_FIELD", "Mã đơn hàng không hợp lệ", "OrderCode")
        if body.get("ServiceCode") not in SERVICES:
            return _invalid("SERVICE_NOT_FOUND", "Dịch vụ không tồn tại", "ServiceCode")
        for side in ("Sender", "Receiver"):
            party = body.get(side)
            if not isinstance(party, dict):
                return _invalid("INVALID_FIELD", "Thiếu thông tin", side)
            for name, limit in (("FullName", 100), ("Address", 250)):
                value = party.get(name)
                if not isinstance(value, str) or not 1 <= len(value.strip()) <= limit:
                    return _invalid("INVALID_FIELD", "Thông tin không hợp lệ", f"{side}.{name}")
            if not isinstance(party.get("Phone"), str) or not _PHONE.fullmatch(party["Phone"]):
                return _invalid("INVALID_PHONE", "Số điện thoại không hợp lệ", f"{side}.Phone")
            province = party.get("ProvinceCode")
            if not isinstance(province, str) or normalize_province_code(province) != province:
                return _invalid("INVALID_PROVINCE", "Mã tỉnh không hợp lệ", f"{side}.ProvinceCode")
            commune = party.get("CommuneCode")
            if not isinstance(commune, str) or not is_ward_in_province(commune, province):
                return _invalid("INVALID_COMMUNE", "Mã xã không thuộc tỉnh", f"{side}.CommuneCode")
        weight = body.get("Weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
            return _invalid("INVALID_WEIGHT", f"Khối lượng phải từ 1 đến {MAX_WEIGHT} gram", "Weight")
        cod = body.get("CODAmount")
        if isinstance(cod, bool) or not isinstance(cod, int) or not 0 <= cod <= MAX_COD:
            return _invalid("INVALID_COD", "Số tiền thu hộ không hợp lệ", "CODAmount")
        contents = body.get("Contents")
        if not isinstance(contents, str) or not 1 <= len(contents) <= 500:
            return _invalid("INVALID_FIELD", "Nội dung hàng hoá không hợp lệ", "Contents")
        if len(str(body.get("Note") or "")) > 500:
            return _invalid("INVALID_FIELD", "Ghi chú quá dài", "Note")
        return None

    async def tracking(self, request: Request) -> Response:
        item = request.query_params.get("itemCode", "")
        refused = await self._gate("tracking", request, {"itemCode": item})
        if refused is not None:
            return refused
        try:
            order = self.order_of(item)
        except KeyError:
            return JSONResponse({"Code": "ITEM_NOT_FOUND", "Message": "Không tìm thấy bưu gửi"}, status_code=404)
        with self._lock:
            events = [e.document(self.base_url, order.item_code) for e in order.events]
        return JSONResponse(
            {"ItemCode": order.item_code, "OrderCode": order.order_code, "Status": order.status, "Events": events}
        )

    async def cancel(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        refused = await self._gate("cancel", request, body)
        if refused is not None:
            return refused
        original_id = body.get("OriginalId") if isinstance(body, dict) else None
        with self._lock:
            order = self.orders.get(str(original_id))
            if order is None:
                return JSONResponse({"Code": "ORDER_NOT_FOUND", "Message": "Không tìm thấy đơn"}, status_code=404)
            if any(e.status >= COLLECTED for e in order.events):
                return _invalid("CANNOT_CANCEL", "Đơn đã được thu gom, không thể hủy", "OriginalId")
            order.cancelled = True
        return JSONResponse({"OriginalId": order.original_id, "Status": 9})

    async def proof(self, request: Request) -> Response:
        item = request.path_params["item"]
        refused = await self._gate("proof", request, {"item": item})
        if refused is not None:
            return refused
        try:
            order = self.order_of(item)
        except KeyError:
            return Response(status_code=404)
        images = [e.image for e in order.events if e.image is not None]
        if not images:
            return Response(status_code=404)
        return Response(images[-1], media_type="image/png")


def _answer(order: FakeOrder) -> dict[str, Any]:
    return {
        "OriginalId": order.original_id,
        "ItemCode": order.item_code,
        "OrderCode": order.order_code,
        "Status": order.status,
        "TotalFee": 16500,
    }


def _invalid(code: str, message: str, field_name: str) -> JSONResponse:
    return JSONResponse({"Code": code, "Message": message, "Field": field_name}, status_code=400)


def _s10_check(serial: int) -> int:
    """The UPU S10 check digit of an 8-digit serial."""
    weights = (8, 6, 4, 2, 3, 5, 9, 7)
    total = sum(int(d) * w for d, w in zip(f"{serial:08d}", weights, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)
