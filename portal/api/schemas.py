"""The JSON shapes of the back-office API (`/api/v1/backoffice`): what `/api/openapi.json` documents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from payments.serialize import PaymentInfo
from portal.api.strict import PartnerStatus


class DossierSummary(BaseModel):
    """A submitted dossier as an agency's back-office lists it."""

    id: str
    code: str
    procedure_code: str
    agency_code: str
    status: PartnerStatus
    submitted_at: datetime | None
    due_date: date | None = Field(description="The appointment date (ngày hẹn trả kết quả) promised to the applicant.")
    delivery_method: str | None = Field(description="online, centre or post")
    applicant_name: str
    business_id: str | None = Field(description="Set when the dossier was filed for a business.")


class ChangedDossier(DossierSummary):
    """A dossier in the change feed: its summary and the number of its latest change."""

    change_seq: int = Field(description="The feed's number of the dossier's latest change (increasing).")
    sub_status: str | None = Field(description="The agency's own step inside the status, if any.")
    national_status: str = Field(description="The national reporting code of the status (docs/BACKOFFICE.md).")


class ChangePage(BaseModel):
    """One page of the change feed. Keep `next_cursor` and send it back as `cursor` on the next call."""

    items: list[ChangedDossier]
    next_cursor: str = Field(description="Opaque: where the next call starts. Always present, even for no items.")


class NationalStatusOut(BaseModel):
    code: str = Field(description="The national portal's status code (TrangThaiHoSo).")
    name_vi: str
    name_en: str


class SubStatus(BaseModel):
    """A step of the agency's own workflow inside the main status (set by `POST …/sub-status`)."""

    code: str
    text_vi: str | None
    text_en: str | None


class SignatureInfo(BaseModel):
    """How a file came to be signed and its validation report as the citizen saw it."""

    kind: str = Field(
        description="portal (signed here with a one-time code), uploaded (signed elsewhere, validated at upload) "
        "or agency (a result an agency issued, taken from the applicant's document store or attached from "
        "another member of a linked application)"
    )
    report: dict[str, Any] | None


class DossierFileInfo(BaseModel):
    id: str
    component: str
    filename: str
    sha256: str
    size: int
    pages: int
    media_type: str
    download_url: str
    signature: SignatureInfo | None = Field(description="Null when the file is not signed.")


class ComponentInfo(BaseModel):
    """One component (thành phần hồ sơ) of the procedure and the files the applicant gave for it."""

    id: str
    name_vi: str
    name_en: str
    mandatory: bool
    signature_required: bool
    files: list[DossierFileInfo]


class ReceiptInfo(BaseModel):
    download_url: str
    sha256: str | None = Field(description="Of the stored receipt; null while the worker has not stored it yet.")


class FeeInfo(BaseModel):
    total: int = Field(description="Đồng, the dossier's bill.")
    left: int = Field(description="Đồng still to pay (0 when paid, exempt or free).")
    payments: list[PaymentInfo]


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(description="The event kind (submitted, received, supplement_requested, …).")
    label: str = Field(description="The kind in English words.")
    actor: str
    details: dict[str, Any]


class SupplementItemOut(BaseModel):
    kind: str = Field(description="component or field")
    target: str = Field(description="The component id or the form field name.")
    reason: str


class SupplementOut(BaseModel):
    id: str
    requested_at: datetime
    requested_by: str
    message: str
    items: list[SupplementItemOut]
    answered_at: datetime | None
    answered_by: str | None


class ResultOut(BaseModel):
    """A result document: the agency's signed PDF and the portal's sealed copy (what `/verify` recognises)."""

    id: str
    filename: str
    sha256: str
    size: int
    pages: int
    sealed_sha256: str
    signature_report: dict[str, Any]
    uploaded_by: str
    created_at: datetime
    download_url: str = Field(description="The portal's sealed copy; add `?copy=original` for the file as uploaded.")
    checked_at: datetime | None = Field(
        default=None, description="When the centre confirmed or sent back the result (procedures it checks)."
    )
    checked_by: str | None = Field(default=None, description="The centre's supervisor who checked it.")
    refused_reason: str | None = Field(
        default=None, description="Set when the centre sent the result back: it is never returned to the applicant."
    )


class ApologyOut(BaseModel):
    at: datetime
    by: str
    reason: str
    previous_date: date | None
    new_date: date


class RatingOut(BaseModel):
    scores: dict[str, int] = Field(description="Criterion → 1..5.")
    comment: str | None
    at: datetime


class PostalAddressOut(BaseModel):
    """A postal address as the applicant gave it (`postal.addresses.PostalAddress`)."""

    name: str
    phone: str = Field(description="Vietnamese phone number, 0xxxxxxxxx.")
    province: str = Field(description="Two-digit province code.")
    ward: str = Field(description="Five-digit ward or commune code.")
    street: str
    notes: str = ""


class DeliveryInfo(BaseModel):
    """How the result goes back and where, whether the originals are picked up, and how the fees are paid."""

    method: str | None = Field(description="online, centre or post")
    address: PostalAddressOut | None = Field(description="Where the result goes by post.")
    pickup_address: PostalAddressOut | None = Field(
        description="Where the postal service picks up the paper originals (null: no pickup chosen)."
    )
    pay_on_delivery: bool = Field(description="The fees are paid in cash to the courier at delivery (COD).")


class ParcelContent(BaseModel):
    id: str = Field(description="A component id (the originals) or a result id (the result documents).")
    name_vi: str
    name_en: str


class ParcelProofOut(BaseModel):
    """Who received a delivered parcel and when (the signature image stays with the portal)."""

    recipient_name: str
    relation: str = Field(description="self, family or authorised (relative to the applicant).")
    delivered_at: datetime


class ParcelOut(BaseModel):
    """A postal order of the dossier: the pickup of the originals or the delivery of the result."""

    number: str = Field(description="The portal's number of the order.")
    kind: str = Field(description="pickup (originals to the agency) or delivery (the result to the applicant)")
    operator: str
    tracking_number: str | None = Field(description="Set once the operator claimed the order.")
    status: str = Field(
        description="created, claimed, picked_up, in_transit, delivery_attempted, delivered, returned or cancelled"
    )
    status_at: datetime = Field(description="When the event that set the status happened.")
    created_at: datetime
    claimed_at: datetime | None
    delivered_at: datetime | None
    originals_arrived_at: datetime | None = Field(
        description="A pickup: when the originals were delivered to the agency (null otherwise)."
    )
    attempts: int = Field(description="Failed delivery attempts so far.")
    fee: int = Field(description="Đồng, the postage charged to the applicant.")
    cod_amount: int = Field(description="Đồng the courier collects at delivery (0: none).")
    weight_class: str
    contents: list[ParcelContent]
    sender: PostalAddressOut
    recipient: PostalAddressOut
    proof: ParcelProofOut | None


class DossierDetail(DossierSummary):
    """One dossier whole: answers, components and files, fee, timeline, supplements, results, apologies, rating,
    delivery choices and postal orders."""

    form_id: str
    form_version: int
    answers: dict[str, Any]
    files: list[DossierFileInfo] = Field(description="Every file, in upload order (also under `components`).")
    components: list[ComponentInfo]
    receipt: ReceiptInfo
    channel: str = Field(description="online, or counter (handed in on paper at the centre)")
    intake_officer: str | None
    received_at: datetime | None
    received_by: str | None
    official_due_date: date | None = Field(
        description="The appointment date counted at reception, moved only by supplement pauses: lateness is "
        "measured against it."
    )
    sub_status: SubStatus | None
    national_status: NationalStatusOut
    result_ready_at: datetime | None
    completed_at: datetime | None
    handover: str | None = Field(description="online, centre or post, once completed.")
    timeliness: str | None = Field(description="early, on_time or late, once completed.")
    overdue_at: datetime | None
    change_seq: int
    fee: FeeInfo
    timeline: list[TimelineEntry]
    supplements: list[SupplementOut]
    results: list[ResultOut]
    apologies: list[ApologyOut]
    rating: RatingOut | None
    delivery: DeliveryInfo
    parcels: list[ParcelOut] = Field(description="The postal orders: the pickup of the originals, the delivery.")
