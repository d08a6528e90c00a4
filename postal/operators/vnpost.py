"""VNPost, served by push: the portal posts each order to VNPost's customer order API and polls its tracking.

The protocol is modelled on VNPost's customer-partner API (MyVNPost: a ``token`` header, ``CreateOrder``
taking the customer's own order code, sender, receiver, weight in grams, COD amount and contents and
answering the item code, ``orderCancel`` by VNPost's order id, VNPost's numeric status codes). The exact
wire format the plugin speaks is written down in docs/POSTAL_OPERATORS.md ("The VNPost protocol"), and
tests/postal/fake_vnpost.py serves it; adjust both together if a contract's API differs.

Errors: a timeout, a refused connection, HTTP 5xx, 408, 429 and 401/403 (a token problem concerns every
order, not this one) raise OperatorError, so the outbox or the next poll tries again; any other 4xx raises
OperatorRefused with VNPost's ``Code`` and ``Message``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from portal.kernel.clock import LOCAL_TZ
from portal.kernel.text import fold
from postal.models import ParcelStatus, RecipientRelation, WeightClass
from postal.operators.base import (
    Mode,
    OperatorConfigError,
    OperatorError,
    OperatorProof,
    OperatorRefused,
    OperatorReport,
    OrderData,
    SubmittedOrder,
    register,
)

log = logging.getLogger("portal.postal")

CREATE_PATH = "/customer-partner/CreateOrder"
TRACKING_PATH = "/customer-partner/GetItemTracking"
CANCEL_PATH = "/customer-partner/orderCancel"
USER_AGENT = "dichvucong-postal/1"

# VNPost's status codes (as its customer API numbers them) → the portal's statuses. The others are VNPost's
# own steps (0 draft, 1 created, 2 assigned to a postman, 3 processing, 4 collecting, 5 and 8 collection
# failed, 9 collection cancelled, 16 awaiting return approval, 17 return approved, 18 return started,
# 20 partly returned, 21 COD paid out, 22 delivery cancelled): read, logged, not recorded.
STATUS_MAP: dict[int, ParcelStatus] = {
    6: ParcelStatus.PICKED_UP,  # collected from the sender
    7: ParcelStatus.PICKED_UP,  # accepted at the post office
    10: ParcelStatus.IN_TRANSIT,  # being transported
    11: ParcelStatus.IN_TRANSIT,  # arrived at a post office
    12: ParcelStatus.IN_TRANSIT,  # out for delivery
    13: ParcelStatus.IN_TRANSIT,  # forwarded
    14: ParcelStatus.DELIVERED,
    15: ParcelStatus.DELIVERY_ATTEMPTED,
    19: ParcelStatus.RETURNED,  # returned to the sender
}
DELIVERED = 14
ATTEMPTED = 15
# ReceiverRelation on a delivered event, when VNPost's handheld recorded it.
RELATIONS: dict[str, RecipientRelation] = {
    "BAN_THAN": RecipientRelation.SELF,
    "NGUOI_THAN": RecipientRelation.FAMILY,
    "UY_QUYEN": RecipientRelation.AUTHORISED,
}
TRACE_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S")
RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})
CONTENTS_MAX = 500
NOTE_MAX = 500


class VnpostOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    """The API's root, e.g. https://my.vnpost.vn/MYVNP_API (VNPost gives the test and production roots)."""
    token: SecretStr
    """The customer's API token, sent in the ``token`` header."""
    customer_code: str
    """The centre's VNPost customer code (CustomerCode), from its contract."""
    service_code: str = "BCCI"
    """The contract's service (BCCI: the public postal service for administrative procedures)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    weight_grams: dict[str, int] = {
        WeightClass.DOCUMENT: 100,
        WeightClass.THICK: 500,
        WeightClass.PARCEL: 2000,
    }
    """The declared weight of each weight class of the tariff."""
    proof_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    """A proof image larger than this is not downloaded."""


@register("vnpost")
class VnpostOperator:
    """VNPost's order API: orders posted by the portal, tracking polled, proof images downloaded."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = VnpostOptions
    label: ClassVar[Mapping[str, str]] = {
        "vi": "Bưu điện Việt Nam (VNPost) — cổng gửi đơn qua API của VNPost",
        "en": "Vietnam Post (VNPost) — the portal posts orders to VNPost's API",
    }
    mode: ClassVar[Mode] = "push"

    def __init__(self, options: VnpostOptions) -> None:
        self.options = options
        self.base_url = options.base_url.rstrip("/")
        self.http = httpx.Client(
            timeout=options.timeout_seconds,
            follow_redirects=False,
            headers={"token": options.token.get_secret_value(), "user-agent": USER_AGENT},
        )

    def close(self) -> None:
        self.http.close()

    def check_config(self) -> None:
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise OperatorConfigError("vnpost: base_url must be an http(s) URL")
        if not self.options.token.get_secret_value().strip():
            raise OperatorConfigError("vnpost: token is empty")
        if not self.options.customer_code.strip():
            raise OperatorConfigError("vnpost: customer_code is empty")
        if not self.options.service_code.strip():
            raise OperatorConfigError("vnpost: service_code is empty")
        for weight_class in WeightClass:
            grams = self.options.weight_grams.get(weight_class.value)
            if grams is None or grams <= 0:
                raise OperatorConfigError(f"vnpost: weight_grams has no positive weight for {weight_class.value!r}")

    # -- the wire

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"VNPost {method} {path}"
        try:
            response = self.http.request(method, self.base_url + path, **kwargs)
        except httpx.TimeoutException:
            raise OperatorError(f"{what}: no answer within {self.options.timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise OperatorError(f"{what}: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status == 200:
            return response
        if status >= 500 or status in RETRY_STATUSES or status < 400:
            raise OperatorError(f"{what}: HTTP {status}{_error_text(response)}")
        body = _json_or_none(response)
        code = str(body.get("Code")) if isinstance(body, dict) and body.get("Code") else None
        raise OperatorRefused(f"{what}: HTTP {status}{_error_text(response)}", status_code=status, code=code)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        body = _json_or_none(response)
        if not isinstance(body, dict):
            raise OperatorError(f"VNPost {method} {path}: the answer is not a JSON object")
        return body

    # -- orders

    def order_document(self, order: OrderData) -> dict[str, Any]:
        """The CreateOrder body for an order."""
        recipient_notes = str(order.recipient.get("notes") or "").strip()
        note = f"Mã hồ sơ {order.reference}" + (f". {recipient_notes}" if recipient_notes else "")
        contents = "; ".join(str(item.get("name_vi") or item.get("id") or "") for item in order.contents)
        return {
            "CustomerCode": self.options.customer_code,
            "OrderCode": order.number,
            "ServiceCode": self.options.service_code,
            "Sender": _party(order.sender),
            "Receiver": _party(order.recipient),
            "Weight": self.options.weight_grams[order.weight_class],
            "CODAmount": order.cod_amount,
            "Contents": (contents or f"Hồ sơ {order.reference}")[:CONTENTS_MAX],
            "Note": note[:NOTE_MAX],
        }

    def submit_order(self, order: OrderData) -> SubmittedOrder:
        """POST CreateOrder. VNPost answers a second CreateOrder with the same OrderCode and the same content with
        the first one's answer, so a retry after a lost answer gives the same item code."""
        body = self._json("POST", CREATE_PATH, json=self.order_document(order))
        item_code = body.get("ItemCode")
        if not isinstance(item_code, str) or not 1 <= len(item_code.strip()) <= 40:
            raise OperatorError(f"VNPost CreateOrder for {order.number}: no ItemCode in the answer")
        original_id = body.get("OriginalId")
        return SubmittedOrder(
            tracking_number=item_code.strip(),
            operator_ref=str(original_id)[:60] if original_id not in (None, "") else None,
        )

    def cancel_order(self, order: OrderData, *, reason: str) -> None:
        if not order.operator_ref:
            return  # never reached VNPost
        self._json("POST", CANCEL_PATH, json={"OriginalId": order.operator_ref, "Reason": reason[:NOTE_MAX]})

    # -- tracking

    def fetch_tracking(self, order: OrderData) -> list[OperatorReport]:
        if not order.tracking_number:
            return []
        body = self._json("GET", TRACKING_PATH, params={"itemCode": order.tracking_number})
        events = body.get("Events")
        if not isinstance(events, list):
            raise OperatorError(f"VNPost tracking of {order.tracking_number}: no Events list in the answer")
        reports: list[OperatorReport] = []
        for event in events:
            if not isinstance(event, dict):
                raise OperatorError(f"VNPost tracking of {order.tracking_number}: an event is not an object")
            report = self._report(order, event)
            if report is not None:
                reports.append(report)
        return sorted(reports, key=lambda r: r.occurred_at)

    def _report(self, order: OrderData, event: Mapping[str, Any]) -> OperatorReport | None:
        item = order.tracking_number or ""
        try:
            code = int(event["Status"])
            occurred_at = parse_trace_date(str(event["TraceDate"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise OperatorError(f"VNPost tracking of {item}: unreadable event {dict(event)!r}: {exc}") from None
        status = STATUS_MAP.get(code)
        if status is None:
            log.debug("VNPost %s: status %s (%s) not recorded", item, code, event.get("StatusName"))
            return None
        location = _text(event.get("PostOffice"), 200)
        note = _text(event.get("StatusName"), 200)
        if event.get("Note"):
            note = f"{note}: {_text(event.get('Note'), 290)}" if note else _text(event.get("Note"), 500)
        reason = ""
        if code == ATTEMPTED:
            reason = _text(event.get("Reason"), 300) or "Không rõ lý do (VNPost không ghi)"
        cod_collected: int | None = None
        proof: OperatorProof | None = None
        if code == DELIVERED:
            raw_cod = event.get("CODAmount")
            if raw_cod not in (None, ""):
                try:
                    cod_collected = int(raw_cod)
                except (TypeError, ValueError):
                    raise OperatorError(f"VNPost tracking of {item}: CODAmount {raw_cod!r} is not a number") from None
            proof = self._proof(order, event, occurred_at)
        return OperatorReport(
            event_id=f"vnpost:{item}:{code}:{occurred_at:%Y%m%d%H%M%S}",
            status=status.value,
            occurred_at=occurred_at,
            location=location,
            note=note[:500],
            reason=reason,
            cod_collected=cod_collected,
            proof=proof,
            raw=dict(event),
        )

    def _proof(self, order: OrderData, event: Mapping[str, Any], delivered_at: datetime) -> OperatorProof:
        name = _text(event.get("ReceiverName"), 120) or _text(order.recipient.get("name"), 120)
        relation = RELATIONS.get(str(event.get("ReceiverRelation") or "").upper())
        if relation is None:
            same = fold(name) == fold(str(order.recipient.get("name") or ""))
            relation = RecipientRelation.SELF if same else RecipientRelation.AUTHORISED
        content: bytes | None = None
        url = event.get("ProofImageUrl")
        if isinstance(url, str) and url:
            content = self._download(url, order.tracking_number or "")
        filename = f"{order.tracking_number}-ky-nhan" if content else ""
        if content:
            filename += ".png" if content.startswith(b"\x89PNG") else ".jpg"
        return OperatorProof(
            recipient_name=name,
            relation=relation.value,
            delivered_at=delivered_at,
            content=content,
            filename=filename,
        )

    def _download(self, url: str, item: str) -> bytes | None:
        """The proof image, from VNPost's own host only (never another host an answer names); None when it is
        gone or too large. OperatorError when VNPost cannot serve it now (the next poll tries again)."""
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            log.warning("VNPost %s: proof image on another host ignored: %s", item, url)
            return None
        limit = self.options.proof_max_bytes
        try:
            with self.http.stream("GET", url) as response:
                if response.status_code in (404, 410):
                    log.warning("VNPost %s: proof image %s is gone (HTTP %s)", item, url, response.status_code)
                    return None
                if response.status_code != 200:
                    raise OperatorError(f"VNPost proof image of {item}: HTTP {response.status_code}")
                kept = b""
                for chunk in response.iter_bytes():
                    kept += chunk
                    if len(kept) > limit:
                        log.warning("VNPost %s: proof image larger than %s bytes ignored", item, limit)
                        return None
                return kept or None
        except httpx.TimeoutException:
            raise OperatorError(f"VNPost proof image of {item}: no answer in time") from None
        except httpx.HTTPError as exc:
            raise OperatorError(f"VNPost proof image of {item}: {type(exc).__name__}: {exc}") from None


def parse_trace_date(value: str) -> datetime:
    """VNPost's event time: Vietnam local time without a zone ("2025-12-06 14:05:00"), as an aware UTC time."""
    for fmt in TRACE_DATE_FORMATS:
        try:
            naive = datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=LOCAL_TZ).astimezone(UTC)
    raise ValueError(f"TraceDate {value!r} is not yyyy-MM-dd HH:mm:ss")


def _party(address: Mapping[str, Any]) -> dict[str, str]:
    return {
        "FullName": str(address.get("name") or ""),
        "Phone": str(address.get("phone") or ""),
        "Address": str(address.get("street") or ""),
        "ProvinceCode": str(address.get("province") or ""),
        "CommuneCode": str(address.get("ward") or ""),
    }


def _text(value: object, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    body = _json_or_none(response)
    if isinstance(body, dict) and (body.get("Code") or body.get("Message")):
        return f" {body.get('Code') or ''}: {body.get('Message') or ''}".rstrip(": ")
    return ""
