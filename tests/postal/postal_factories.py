"""Factories of postal orders and operator reports for the postal tests (service-level, `session` fixture)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from postal import service
from postal.models import ParcelKind, ParcelStatus, PostalOrder, RecipientRelation
from tests.factories import jpeg_bytes

# Orders of these tests belong to no dossier (the dossiers' subscriber leaves other owners alone).
OWNER_KIND = "postal-test"

# The centre (Ninh Bình, the agency's province) and an applicant in Hà Nội.
CENTRE = {
    "name": "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình",
    "phone": "02293871234",
    "province": "37",
    "ward": "14362",
    "street": "Số 2 đường Lê Hồng Phong",
}
APPLICANT = {
    "name": "Nguyễn Thị Hường",
    "phone": "0912345678",
    "province": "01",
    "ward": "00004",
    "street": "12 Lý Thái Tổ",
    "notes": "Gọi trước 15 phút",
}


def order(session: Session, settings: Settings, *, age: timedelta = timedelta(days=1), **over: Any) -> PostalOrder:
    """A delivery order of a result to the applicant (unclaimed), created `age` ago (events may be older than
    the test's clock)."""
    kind = over.pop("kind", ParcelKind.DELIVERY)
    applicant = over.pop("applicant", APPLICANT)
    sender, recipient = (CENTRE, applicant) if kind == ParcelKind.DELIVERY else (applicant, CENTRE)
    values: dict[str, Any] = {
        "kind": kind,
        "owner_kind": OWNER_KIND,
        "owner_id": secrets.token_hex(16),
        "reference": f"G37-{secrets.token_hex(4).upper()}",
        "sender": sender,
        "recipient": recipient,
        "province_code": applicant["province"],
        "contents": [{"id": "result", "name_vi": "Giấy phép", "name_en": "Permit"}],
        "weight_class": "document",
        "fee": 22000,
    }
    values.update(over)
    created = service.create_order(session=session, settings=settings, **values)
    if age:
        created.created_at = created.status_at = created.created_at - age
        session.add(created)
        session.flush()
    return created


def claimed(session: Session, settings: Settings, **over: Any) -> PostalOrder:
    o = order(session, settings, **over)
    return service.claim(session=session, order=o, operator=o.operator, tracking_number=None)


def report(status: str, *, at: datetime | None = None, **over: Any) -> service.TrackingReport:
    values: dict[str, Any] = {
        "event_id": f"ev-{secrets.token_hex(6)}",
        "status": status,
        "occurred_at": at or utcnow(),
    }
    if status == ParcelStatus.DELIVERY_ATTEMPTED:
        values["reason"] = "Không có người nhận"
    values.update(over)
    return service.TrackingReport(**values)


def proof(*, at: datetime | None = None, content: bytes | None = None, **over: Any) -> service.Proof:
    values: dict[str, Any] = {
        "recipient_name": "Nguyễn Thị Hường",
        "relation": RecipientRelation.SELF,
        "delivered_at": at or utcnow() - timedelta(seconds=1),
        "content": jpeg_bytes((320, 120)) if content is None else content,
        "filename": "chu-ky.jpg",
    }
    values.update(over)
    return service.Proof(**values)
