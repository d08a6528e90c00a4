"""The dossier page's postal section (templates/dossiers/_parcels.html) and the proof of delivery it links to
(portal/dossiers/parcel_views.py): the operator is played with `postal.service` on the app's database
(committed, as the operator API would), the citizen reads over HTTP."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from auth.models import Account
from portal.dossiers.models import Dossier
from portal.kernel.clock import local, utcnow
from postal import service as postal
from postal.models import ParcelKind, ParcelStatus, PostalOrder, RecipientRelation
from tests import factories
from tests.web import test_lifecycle_pages as lifecycle_pages

pytestmark = pytest.mark.db
HOME = {
    "name": "Nguyễn Văn Bình",
    "phone": "0912345678",
    "province": "37",
    "ward": "14329",
    "street": "5 Trần Hưng Đạo",
}
AGENCY = {
    "name": "Ủy ban nhân dân phường Hoa Lư",
    "phone": "0229 3871 000",
    "province": "37",
    "ward": "14329",
    "street": "Số 1 đường Đinh Tiên Hoàng",
}


# A signed-in citizen and their account; another citizen in a browser of their own.
person, other = lifecycle_pages.person, lifecycle_pages.other


def delivered_parcel(app: Any, db: Session, account: Account) -> tuple[Dossier, PostalOrder]:
    """A submitted dossier going by post whose result parcel was claimed, picked up, attempted and delivered."""
    settings, storage = app.state.settings, app.state.storage
    dossier = factories.dossier(
        db, applicant=account, submitted=True, delivery_method="post", delivery_address=dict(HOME)
    )
    order = postal.create_order(
        session=db,
        settings=settings,
        kind=ParcelKind.DELIVERY,
        owner_id=dossier.id,
        reference=dossier.code or "",
        sender=AGENCY,
        recipient=HOME,
        province_code="37",
        contents=[{"id": "kq", "name_vi": "Giấy xác nhận", "name_en": "Certificate"}],
        weight_class="document",
        fee=18000,
    )
    postal.claim(session=db, order=order, operator=order.operator, tracking_number=None)
    start = utcnow()

    def report(n: int, status: str, proof: postal.Proof | None = None, **extra: Any) -> None:
        postal.record_event(
            session=db,
            settings=settings,
            storage=storage,
            operator=order.operator,
            order=order,
            report=postal.TrackingReport(
                event_id=f"web-{order.number}-{n}", status=status, occurred_at=start + timedelta(seconds=n), **extra
            ),
            proof=proof,
        )

    report(1, ParcelStatus.PICKED_UP)
    report(2, ParcelStatus.DELIVERY_ATTEMPTED, reason="Không có người nhận")
    signed = postal.Proof(
        recipient_name="Nguyễn Thị Lan",
        relation=RecipientRelation.FAMILY,
        delivered_at=start + timedelta(seconds=3),
        content=factories.png_bytes((90, 60)),
        filename="ky-nhan.png",
    )
    report(3, ParcelStatus.DELIVERED, proof=signed)
    db.commit()
    return dossier, order


def test_the_dossier_page_shows_the_parcel_its_tracking_and_the_proof(
    app: Any, db: Session, person: tuple[TestClient, Account]
) -> None:
    client, account = person
    dossier, order = delivered_parcel(app, db, account)
    db.rollback()
    row = db.get(PostalOrder, order.id)
    assert row is not None and row.tracking_number
    proof = postal.proof_of(db, order.id)
    assert proof is not None
    page = client.get(f"/dossiers/{dossier.id}")
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert 'id="parcels"' in text and f'id="parcel-{order.number}"' in text
    assert row.tracking_number in text
    assert "Nguyễn Thị Lan" in text  # who received it, and when
    assert local(proof.delivered_at).strftime("%H:%M %d/%m/%Y") in text
    assert "Không có người nhận" in text  # the failed attempt's reason
    assert f"/dossiers/{dossier.id}/parcels/{order.number}/proof" in text
    # The timeline names the parcel's tracking number.
    timeline = text[text.index('id="timeline-heading"') :]
    assert row.tracking_number in timeline and "event-postal_delivered" in timeline
    image = client.get(f"/dossiers/{dossier.id}/parcels/{order.number}/proof")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG") and "no-store" in image.headers["cache-control"]
    assert client.get(f"/dossiers/{dossier.id}/parcels/NOPE/proof").status_code == 404


def test_another_citizen_sees_neither_the_page_nor_the_proof(
    app: Any, db: Session, person: tuple[TestClient, Account], other: TestClient
) -> None:
    _, account = person
    dossier, order = delivered_parcel(app, db, account)
    assert other.get(f"/dossiers/{dossier.id}").status_code == 404
    assert other.get(f"/dossiers/{dossier.id}/parcels/{order.number}/proof").status_code == 404


def test_a_dossier_without_parcels_has_no_postal_section(
    app: Any, db: Session, person: tuple[TestClient, Account]
) -> None:
    client, account = person
    db.rollback()
    dossier = factories.dossier(db, applicant=account, submitted=True)
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}")
    assert page.status_code == 200 and 'id="parcels"' not in page.text
