"""The JSON shapes of the postal operators' API (`/api/v1/postal`): what `/api/openapi.json` documents."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from portal.api.strict import StrictInstant
from postal.models import ParcelKind, ParcelStatus, RecipientRelation

EVENT_ID_PATTERN = r"^[\x21-\x7e]{1,80}$"  # visible ASCII, as idempotency keys (UUIDs, ULIDs, the operator's ids)
TRACKING_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$"
PROVINCE_PATTERN = r"^[0-9]{2}$"


class ReportedStatus(StrEnum):
    """What `POST …/events` reports. `delivered` needs proof: it is `POST …/delivery`."""

    PICKED_UP = ParcelStatus.PICKED_UP.value
    IN_TRANSIT = ParcelStatus.IN_TRANSIT.value
    DELIVERY_ATTEMPTED = ParcelStatus.DELIVERY_ATTEMPTED.value
    RETURNED = ParcelStatus.RETURNED.value


DELIVERED_HERE = (
    "'delivered' needs proof of delivery: POST /api/v1/postal/orders/{number}/delivery (multipart, with the "
    "recipient's name, relation and a signature image or photo)"
)

ADDRESS_EXAMPLE: dict[str, Any] = {
    "name": "Nguyễn Thị Hoa",
    "phone": "0912345678",
    "province": "37",
    "province_name": "Ninh Bình",
    "ward": "14329",
    "ward_name": "Phường Hoa Lư",
    "street": "Số 12, đường Trần Hưng Đạo",
    "notes": "Gọi trước khi giao",
}
CENTRE_EXAMPLE: dict[str, Any] = {
    **ADDRESS_EXAMPLE,
    "name": "Trung tâm Phục vụ hành chính công phường Hoa Lư",
    "phone": "02293871234",
    "street": "Số 1, đường Lê Hoàn",
    "notes": "",
}
CURSOR_EXAMPLE = "eyJuIjoiQkMyNjAwMDAwMTcifQ"
SUMMARY_EXAMPLE: dict[str, Any] = {
    "number": "BC260000017",
    "kind": "delivery",
    "status": "claimed",
    "operator": "vnpost",
    "province": "37",
    "reference": "UBXA-261205-0042",
    "tracking_number": "RP000000178VN",
    "weight_class": "document",
    "cod_amount": 150000,
    "attempts": 0,
    "created_at": "2026-12-05T02:10:00Z",
    "claimed_at": "2026-12-05T03:00:00Z",
    "status_at": "2026-12-05T03:00:00Z",
    "delivered_at": None,
    "sender": CENTRE_EXAMPLE,
    "recipient": ADDRESS_EXAMPLE,
    "url": "http://portal.example.vn/api/v1/postal/orders/BC260000017",
    "label_url": "http://portal.example.vn/api/v1/postal/orders/BC260000017/label.pdf",
}
EVENT_EXAMPLE: dict[str, Any] = {
    "event_id": "vnp-7f3a9c1e-0001",
    "status": "in_transit",
    "occurred_at": "2026-12-05T07:30:00Z",
    "recorded_at": "2026-12-05T07:30:04Z",
    "location": "Bưu cục Hoa Lư",
    "note": "",
    "reason": "",
    "cod_collected": None,
    "applied": True,
}
PROOF_EXAMPLE: dict[str, Any] = {
    "event_id": "vnp-7f3a9c1e-0003",
    "recipient_name": "Nguyễn Thị Hoa",
    "relation": "self",
    "delivered_at": "2026-12-06T03:15:00Z",
    "media_type": "image/png",
    "size": 18342,
    "sha256": "9f2c0a55b0e4d8c3f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708",
    "download_url": "http://portal.example.vn/api/v1/postal/orders/BC260000017/proof",
}


class AddressOut(BaseModel):
    """A postal address: the two-level units in force since July 2025 (province, commune/ward), with names."""

    name: str = Field(description="The sender or recipient.")
    phone: str = Field(description="Vietnamese phone number, 0xxxxxxxxx.")
    province: str = Field(description="Two-digit province code.")
    province_name: str | None = Field(description="The province's name (None for a code no longer known).")
    ward: str = Field(description="Five-digit commune/ward code.")
    ward_name: str | None = Field(description="The commune's or ward's name (None for a code no longer known).")
    street: str = Field(description="House number, street, hamlet.")
    notes: str = Field(description="Delivery notes from the applicant.")

    model_config = ConfigDict(json_schema_extra={"examples": [ADDRESS_EXAMPLE]})


class ContentOut(BaseModel):
    """One thing inside the parcel: an original asked for (pickup), or a result document (delivery)."""

    id: str
    name_vi: str
    name_en: str


class OrderSummary(BaseModel):
    """An order as an operator lists it."""

    number: str = Field(description="The portal's number of the order (print it, quote it).")
    kind: ParcelKind
    status: ParcelStatus
    operator: str = Field(description="The operator the order is given to (the client's own).")
    province: str = Field(description="Province of the applicant's side: where a pickup starts or a delivery ends.")
    reference: str = Field(description="The dossier's code, printed on the label.")
    tracking_number: str | None = Field(description="Set by the claim (the operator's, or an S10 number issued).")
    weight_class: str = Field(description="document (≤ 100 g), thick (≤ 500 g) or parcel (≤ 2 kg).")
    cod_amount: int = Field(description="Cash to collect from the recipient at delivery, in đồng (0: none).")
    attempts: int = Field(description="Failed delivery attempts so far.")
    created_at: datetime
    claimed_at: datetime | None
    status_at: datetime = Field(description="The time of the event that set the current status.")
    delivered_at: datetime | None
    sender: AddressOut
    recipient: AddressOut
    url: str = Field(description="This order in full (GET).")
    label_url: str = Field(description="Its shipping label, A6 PDF (once claimed).")

    model_config = ConfigDict(json_schema_extra={"examples": [SUMMARY_EXAMPLE]})


class OrderPage(BaseModel):
    """One page of open orders. Send `next_cursor` back as `cursor` for the next page."""

    items: list[OrderSummary]
    next_cursor: str = Field(
        description="Opaque: where the next call starts. Always present, even for no items: keep it and poll with it."
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [SUMMARY_EXAMPLE], "next_cursor": CURSOR_EXAMPLE}]}
    )


class EventOut(BaseModel):
    """One tracking event of an order, as it was reported (the portal's own events: `portal-…` ids)."""

    event_id: str
    status: ParcelStatus
    occurred_at: datetime = Field(description="When it happened, as reported.")
    recorded_at: datetime = Field(description="When the portal recorded it.")
    location: str
    note: str
    reason: str = Field(description="Why a delivery attempt failed.")
    cod_collected: int | None = Field(description="Cash collected at delivery, in đồng.")
    applied: bool = Field(
        description="Whether it set the order's status (an event that arrives late or ranks lower is kept, "
        "in time order, without moving the status back)."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})


class ProofOut(BaseModel):
    """Proof of delivery: who received the parcel, when, and the image (signature or photo)."""

    event_id: str
    recipient_name: str
    relation: RecipientRelation
    delivered_at: datetime
    media_type: str = Field(description="image/jpeg or image/png")
    size: int = Field(description="Bytes of the image.")
    sha256: str
    download_url: str

    model_config = ConfigDict(json_schema_extra={"examples": [PROOF_EXAMPLE]})


class OrderDetail(OrderSummary):
    """One order whole: addresses, contents, COD amount, status, attempts, its events by time, proof."""

    contents: list[ContentOut]
    events: list[EventOut] = Field(description="Every event, by the time it happened.")
    proof: ProofOut | None = Field(description="Set once delivered.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SUMMARY_EXAMPLE,
                    "contents": [
                        {"id": "giay_xac_nhan", "name_vi": "Giấy xác nhận", "name_en": "Certificate"},
                    ],
                    "events": [
                        {**EVENT_EXAMPLE, "event_id": "portal-created", "status": "created", "location": ""},
                        {**EVENT_EXAMPLE, "event_id": "portal-claimed", "status": "claimed", "location": ""},
                    ],
                    "proof": None,
                }
            ]
        }
    )


class ClaimIn(BaseModel):
    """A claim: the operator takes the order. Without a tracking number the portal issues one (S10)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tracking_number": "RP123456785VN"}, {}]},
    )

    tracking_number: str | None = Field(
        default=None,
        pattern=TRACKING_PATTERN,
        description="The operator's own tracking number (4–40 letters, digits, hyphens); omit it to get one "
        "issued by the portal.",
    )


class EventIn(BaseModel):
    """A tracking event. `event_id` makes it idempotent: the same id again is a retry (the first answer comes
    back); the same id with other content is 409."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "vnp-7f3a9c1e-0001",
                    "status": "picked_up",
                    "occurred_at": "2026-12-05T08:00:00+07:00",
                    "location": "Bưu cục Hoa Lư",
                },
                {
                    "event_id": "vnp-7f3a9c1e-0002",
                    "status": "delivery_attempted",
                    "occurred_at": "2026-12-06T09:20:00+07:00",
                    "location": "Phường Hoa Lư",
                    "reason": "Không liên lạc được người nhận",
                },
            ]
        },
    )

    event_id: str = Field(pattern=EVENT_ID_PATTERN, description="The operator's unique id of this event.")
    status: ReportedStatus = Field(
        description="picked_up, in_transit, delivery_attempted (with a reason) or returned. delivered: see "
        "`POST …/delivery`."
    )
    occurred_at: StrictInstant = Field(
        description="When it happened: RFC 3339 with a time zone; not in the future, not before the order."
    )
    location: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)
    reason: str = Field(default="", max_length=300, description="Required for delivery_attempted: why it failed.")

    @field_validator("status", mode="before")
    @classmethod
    def _not_delivered(cls, value: Any) -> Any:
        if value == ParcelStatus.DELIVERED.value:
            raise ValueError(DELIVERED_HERE)
        return value


class RecordedEvent(BaseModel):
    """What the portal recorded. A retry of the same event (same `event_id` and content) gets this answer
    again, with `replayed: true` and the header `Idempotent-Replayed: true`."""

    number: str = Field(description="The order's number.")
    event: EventOut
    replayed: bool = Field(description="True when this event had been recorded before (a retry).")
    proof: ProofOut | None = Field(default=None, description="The proof of a delivery.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"number": "BC260000017", "event": EVENT_EXAMPLE, "replayed": False}]}
    )


class CodLine(BaseModel):
    """One delivered order whose cash was collected."""

    number: str
    tracking_number: str | None
    reference: str = Field(description="The dossier's code.")
    delivered_at: datetime
    amount: int = Field(description="Collected, in đồng.")


class CodStatementOut(BaseModel):
    """The operator's cash-on-delivery statement of one day (Asia/Ho_Chi_Minh): every delivered COD order."""

    operator: str
    day: date
    lines: list[CodLine]
    count: int
    total: int = Field(description="Sum of the amounts, in đồng.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operator": "vnpost",
                    "day": "2026-12-06",
                    "lines": [
                        {
                            "number": "BC260000017",
                            "tracking_number": "RP000000178VN",
                            "reference": "UBXA-261205-0042",
                            "delivered_at": "2026-12-06T03:15:00Z",
                            "amount": 150000,
                        }
                    ],
                    "count": 1,
                    "total": 150000,
                }
            ]
        }
    )
