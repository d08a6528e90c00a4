"""The back-office sees a dossier's delivery choices and postal orders (GET /api/v1/backoffice/dossiers/{code})."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.dossiers.models import Dossier
from tests import factories
from tests.api.test_token_and_api import bearer, get_token, new_client
from tests.web.test_parcel_pages import HOME, delivered_parcel

pytestmark = pytest.mark.db


def test_the_detail_shows_the_delivery_choices_and_the_parcels(client: TestClient, app: Any, db: Session) -> None:
    account = factories.account(db)
    db.commit()
    dossier, order = delivered_parcel(app, db, account)
    headers = bearer(get_token(client, *new_client(app, agency="UBXA")))
    r = client.get(f"/api/v1/backoffice/dossiers/{dossier.code}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["delivery"] == {
        "method": "post",
        "address": {**HOME, "notes": ""},
        "pickup_address": None,
        "pay_on_delivery": False,
    }
    [parcel] = body["parcels"]
    db.rollback()
    fresh = db.get(type(order), order.id)
    assert fresh is not None
    assert parcel["number"] == order.number and parcel["kind"] == "delivery"
    assert parcel["tracking_number"] == fresh.tracking_number and parcel["operator"] == fresh.operator
    assert parcel["status"] == "delivered" and parcel["attempts"] == 1
    assert parcel["proof"]["recipient_name"] == "Nguyễn Thị Lan" and parcel["proof"]["relation"] == "family"
    assert parcel["originals_arrived_at"] is None
    kinds = [e["kind"] for e in body["timeline"]]
    assert {"postal_created", "postal_claimed", "postal_picked_up", "postal_attempted", "postal_delivered"} <= set(
        kinds
    )


def test_a_dossier_without_parcels_has_an_empty_list(client: TestClient, app: Any, db: Session) -> None:
    dossier: Dossier = factories.dossier(db, submitted=True)
    db.commit()
    headers = bearer(get_token(client, *new_client(app, agency="UBXA")))
    body = client.get(f"/api/v1/backoffice/dossiers/{dossier.code}", headers=headers).json()
    assert body["parcels"] == [] and body["delivery"]["pickup_address"] is None


def test_counter_intake_takes_the_address_of_a_result_by_post(client: TestClient, app: Any) -> None:
    from tests.api.test_backoffice_intake import _dossier, _headers, _send

    h = _headers(client, app)
    r = _send(client, h, _dossier(delivery_method="post", delivery_address=HOME))
    assert r.status_code == 201, r.text
    assert r.json()["delivery"]["address"] == {**HOME, "notes": ""}
    # A ward outside its province is a 422 naming the field; no address (and none known) a 422 saying so.
    wrong = _send(client, h, _dossier(delivery_method="post", delivery_address={**HOME, "province": "01"}))
    assert wrong.status_code == 422, wrong.text
    assert any("delivery_address" in e["loc"] for e in wrong.json()["errors"]), wrong.text
    missing = _send(client, h, _dossier(delivery_method="post"))
    assert missing.status_code == 422 and "delivery address" in missing.text
