"""The postal operators' API over HTTP with real clients and tokens: list open orders with a stable cursor, read one
whole, claim it, report its tracking, deliver it with proof, print its label, read the day's COD statement."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.kernel.calendar import local_date
from portal.kernel.db import writer
from postal import service
from postal.models import ParcelKind, PostalOrder
from postal.numbers import is_s10
from tests.api.helpers import committed_dossier
from tests.api.postal_helpers import (
    age_order,
    ago,
    all_orders,
    committed_order,
    deliver,
    event,
    jpeg,
    operator_headers,
    png,
    problem,
    url,
)
from tests.api.test_token_and_api import bearer, get_token, new_client

pytestmark = pytest.mark.db


def test_an_operator_takes_a_cod_delivery_to_the_door(client: TestClient, app, settings) -> None:
    h = operator_headers(client, app)
    order = committed_order(app, settings, cod_amount=150_000, age=timedelta(0))

    listed = {o["number"]: o for o in all_orders(client, h, kind="delivery", province="37")}
    summary = listed[order.number]
    assert summary["status"] == "created" and summary["tracking_number"] is None
    assert summary["cod_amount"] == 150_000 and summary["reference"] == order.reference
    assert summary["recipient"]["name"] == "Nguyễn Thị Hoa" and summary["recipient"]["ward_name"] == "Phường Nam Định"
    assert summary["sender"]["province_name"] == "Ninh Bình"
    assert summary["url"].endswith(url(order)) and summary["label_url"].endswith(url(order, "/label.pdf"))

    r = client.get(url(order), headers=h)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["contents"][0]["id"] == "giay_xac_nhan" and detail["proof"] is None
    assert [e["status"] for e in detail["events"]] == ["created"]
    problem(client.get(url(order, "/label.pdf"), headers=h), 409)  # no tracking number yet

    # The claim: the portal issues an S10 number; a retry with the key gets the first answer, a second claim 409.
    key = {"Idempotency-Key": "claim-" + order.number}
    r = client.post(url(order, "/claim"), json={}, headers={**h, **key})
    assert r.status_code == 200, r.text
    tracking = r.json()["tracking_number"]
    assert is_s10(tracking) and r.json()["status"] == "claimed" and r.json()["claimed_at"]
    again = client.post(url(order, "/claim"), json={}, headers={**h, **key})
    assert again.status_code == 200 and again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
    assert "already" in problem(client.post(url(order, "/claim"), json={}, headers=h), 409)["detail"].lower()

    age_order(app, order, timedelta(days=1))  # created and claimed a day ago: its tracking comes since

    label = client.get(url(order, "/label.pdf"), headers=h)
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF-") and "attachment" in label.headers["content-disposition"]

    # Tracking: picked up, in transit, a failed attempt; a retry of an event; an event that arrives late.
    assert event(client, h, order, event_id="e-1", status="picked_up", occurred_at=ago(hours=20)).status_code == 200
    transit = {"event_id": "e-2", "status": "in_transit", "occurred_at": ago(hours=10), "location": "Bưu cục Hoa Lư"}
    r = event(client, h, order, **transit)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["number"] == order.number and first["replayed"] is False and first["event"]["applied"] is True
    assert first["event"]["location"] == "Bưu cục Hoa Lư" and first["proof"] is None
    r = event(client, h, order, **transit)
    assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true"
    assert r.json() == {**first, "replayed": True}
    # An Idempotency-Key too, as on every POST of the API: the kept answer comes back as it was.
    keyed = {**transit, "event_id": "e-2b", "occurred_at": ago(hours=9)}
    key = {**h, "Idempotency-Key": f"event-{order.number}"}
    r = client.post(url(order, "/events"), json=keyed, headers=key)
    assert r.status_code == 200 and r.json()["replayed"] is False
    again = client.post(url(order, "/events"), json=keyed, headers=key)
    assert again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
    problem(client.post(url(order, "/events"), json={**keyed, "note": "khác"}, headers=key), 422)  # key reused
    r = event(
        client, h, order, event_id="e-3", status="delivery_attempted", occurred_at=ago(hours=3), reason="Vắng nhà"
    )
    assert r.status_code == 200 and r.json()["event"]["reason"] == "Vắng nhà"
    late = event(client, h, order, event_id="e-0", status="in_transit", occurred_at=ago(hours=15))
    assert late.status_code == 200 and late.json()["event"]["applied"] is False
    detail = client.get(url(order), headers=h).json()
    assert detail["status"] == "delivery_attempted" and detail["attempts"] == 1

    # Delivered with proof and the cash collected; a retry of the delivery is its first answer.
    image = png()
    handover: dict[str, Any] = {
        "image": image,
        "event_id": "e-4",
        "occurred_at": ago(minutes=5),
        "cod_collected": 150_000,
        "relation": "family",
        "recipient_name": "Trần Văn Nam",
        "location": "Phường Nam Định",
        "note": "Giao cho chồng",
    }
    r = deliver(client, h, order, **handover)
    assert r.status_code == 200, r.text
    delivered = r.json()
    assert delivered["event"]["status"] == "delivered" and delivered["event"]["cod_collected"] == 150_000
    proof = delivered["proof"]
    assert proof["recipient_name"] == "Trần Văn Nam" and proof["relation"] == "family"
    assert proof["media_type"] == "image/png" and proof["size"] == len(image)
    assert proof["sha256"] == hashlib.sha256(image).hexdigest() and proof["download_url"].endswith(url(order, "/proof"))
    replay = deliver(client, h, order, **handover)
    assert replay.status_code == 200, replay.text
    assert replay.json() == {**delivered, "replayed": True} and replay.headers["idempotent-replayed"] == "true"

    r = client.get(url(order, "/proof"), headers=h)
    assert r.status_code == 200 and r.content == image and r.headers["content-type"] == "image/png"

    detail = client.get(url(order), headers=h).json()
    assert detail["status"] == "delivered" and detail["delivered_at"] and detail["tracking_number"] == tracking
    assert [e["status"] for e in detail["events"]][:2] == ["created", "claimed"]
    assert [e["event_id"] for e in detail["events"]][2:] == ["e-1", "e-0", "e-2", "e-2b", "e-3", "e-4"]  # by time
    times = [e["occurred_at"] for e in detail["events"]]
    assert times == sorted(times)
    assert detail["proof"] == proof
    # Delivered: no longer an open order, still listed when asked for by status.
    assert order.number not in {o["number"] for o in all_orders(client, h)}
    assert order.number in {o["number"] for o in all_orders(client, h, status="delivered")}

    # The day's COD statement, JSON and CSV.
    day = local_date(_delivered_at(app, order)).isoformat()
    r = client.get(f"/api/v1/postal/cod-statements/{day}", headers=h)
    assert r.status_code == 200, r.text
    statement = r.json()
    [line] = [x for x in statement["lines"] if x["number"] == order.number]
    assert line["amount"] == 150_000 and line["tracking_number"] == tracking and line["reference"] == order.reference
    assert statement["total"] == sum(x["amount"] for x in statement["lines"]) and statement["day"] == day
    assert statement["operator"] == "vnpost" and statement["count"] == len(statement["lines"])
    r = client.get(f"/api/v1/postal/cod-statements/{day}.csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert any(order.number in row for row in rows) and any("150000" in row for row in rows)


def _delivered_at(app, order: PostalOrder):
    with Session(app.state.engine) as s:
        row = s.get(PostalOrder, order.id)
        assert row is not None and row.delivered_at is not None
        return row.delivered_at


def test_an_operators_own_tracking_number_and_a_jpeg_proof(client: TestClient, app, settings) -> None:
    h = operator_headers(client, app)
    order = committed_order(app, settings, kind=ParcelKind.PICKUP, age=timedelta(0))
    mine = f"VTP-{order.number[-8:]}"
    r = client.post(url(order, "/claim"), json={"tracking_number": mine.lower()}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["tracking_number"] == mine and r.json()["kind"] == "pickup"
    assert r.json()["sender"]["name"] == "Nguyễn Thị Hoa"  # a pickup: from the applicant to the centre
    age_order(app, order, timedelta(hours=1))
    r = client.post(url(order, "/claim"), headers=h)  # no body at all: a claim too, refused as the second
    problem(r, 409)
    image = jpeg()
    r = deliver(client, h, order, image=image, filename="anh.jpg", media_type="image/jpeg", relation="authorised")
    assert r.status_code == 200, r.text
    assert r.json()["proof"]["media_type"] == "image/jpeg"
    r = client.get(url(order, "/proof"), headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == image
    assert client.get("/api/v1/postal/cod-statements/2026-01-05", headers=h).json()["total"] >= 0


def test_the_list_pages_with_a_stable_cursor_and_filters(client: TestClient, app, settings) -> None:
    h = operator_headers(client, app)
    province = "12"  # Lai Châu: no other test sends there
    first = [committed_order(app, settings, province=province) for _ in range(3)]
    pickup = committed_order(app, settings, province=province, kind=ParcelKind.PICKUP)
    cancelled = committed_order(app, settings, province=province)
    with Session(writer(app.state.engine)) as s:
        row = s.get(PostalOrder, cancelled.id)
        assert row is not None
        service.cancel(session=s, order=row, reason="Đổi sang nhận tại quầy", by="test")
        s.commit()

    numbers = [o["number"] for o in all_orders(client, h, limit=2, province=province)]
    assert numbers == [o.number for o in [*first, pickup]]  # each once, in a stable order; the cancelled one not
    assert [o["number"] for o in all_orders(client, h, province=province, kind="pickup")] == [pickup.number]
    assert [o["number"] for o in all_orders(client, h, province=province, status="cancelled")] == [cancelled.number]

    # Poll from the end: nothing, with a cursor to keep; a new order comes after it, once.
    r = client.get("/api/v1/postal/orders", params={"province": province, "limit": 100}, headers=h)
    end = r.json()["next_cursor"]
    r = client.get("/api/v1/postal/orders", params={"province": province, "cursor": end}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["next_cursor"]
    kept = r.json()["next_cursor"]
    later = committed_order(app, settings, province=province, age=timedelta(0))
    r = client.get("/api/v1/postal/orders", params={"province": province, "cursor": kept}, headers=h)
    assert [o["number"] for o in r.json()["items"]] == [later.number]

    # Another operator's client sees none of them, and none of them exists for it.
    other = operator_headers(client, app, "viettelpost")
    assert all_orders(client, other, province=province) == []
    problem(client.get(url(first[0]), headers=other), 404)


def test_a_postal_token_is_needed(client: TestClient, app, settings) -> None:
    order = committed_order(app, settings)
    problem(client.get(url(order)), 401)
    bo_id, bo_secret = new_client(app)
    r = client.get(url(order), headers=bearer(get_token(client, bo_id, bo_secret)))
    assert problem(r, 403)["error"] == "insufficient_scope"


def test_openapi_documents_the_postal_api(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/v1/postal/")}
    assert set(paths) == {
        "/api/v1/postal/orders",
        "/api/v1/postal/orders/{number}",
        "/api/v1/postal/orders/{number}/claim",
        "/api/v1/postal/orders/{number}/events",
        "/api/v1/postal/orders/{number}/delivery",
        "/api/v1/postal/orders/{number}/label.pdf",
        "/api/v1/postal/orders/{number}/proof",
        "/api/v1/postal/cod-statements/{day}",
        "/api/v1/postal/cod-statements/{day}.csv",
    }
    for ops in paths.values():
        for op in ops.values():
            assert op["tags"] == ["partner: postal"] and op["security"] == [{"partnerToken": ["postal"]}]
            assert op["description"] or op["summary"]
            for status in ("401", "403", "422", "429"):
                assert "application/problem+json" in op["responses"][status]["content"]
    schemas = spec["components"]["schemas"]
    for name in ("OrderPage", "OrderDetail", "RecordedEvent", "CodStatementOut", "EventIn", "ClaimIn"):
        assert name in schemas
    assert schemas["OrderDetail"]["examples"] and schemas["EventIn"]["examples"]
    assert "delivered" not in schemas["ReportedStatus"]["enum"]
    delivery = paths["/api/v1/postal/orders/{number}/delivery"]["post"]
    assert "multipart/form-data" in delivery["requestBody"]["content"]
    assert {"400", "404", "409", "413"} <= set(delivery["responses"])


def test_the_dossier_hears_of_its_parcel(client: TestClient, app, settings) -> None:
    """A pickup of a real dossier's originals, driven through the API: the agency's back-office reads each step on
    the dossier's timeline, placed at the operator's times."""
    dossier = committed_dossier(app)
    h = operator_headers(client, app)
    order = committed_order(
        app,
        settings,
        kind=ParcelKind.PICKUP,
        owner_kind="dossier",
        owner_id=dossier.id,
        reference=dossier.code,
        age=timedelta(0),
    )
    assert client.post(url(order, "/claim"), json={}, headers=h).status_code == 200
    age_order(app, order, timedelta(hours=6))
    picked = event(client, h, order, event_id=f"{order.number}-1", status="picked_up", occurred_at=ago(hours=5))
    assert picked.status_code == 200, picked.text
    r = deliver(
        client, h, order, event_id=f"{order.number}-2", recipient_name="Lê Văn Tiếp Nhận", relation="authorised"
    )
    assert r.status_code == 200, r.text

    bo_id, bo_secret = new_client(app)
    r = client.get(f"/api/v1/backoffice/dossiers/{dossier.code}", headers=bearer(get_token(client, bo_id, bo_secret)))
    assert r.status_code == 200, r.text
    postal = [e for e in r.json()["timeline"] if e["details"].get("number") == order.number]
    kinds = [e["kind"] for e in postal]
    assert {"postal_claimed", "postal_picked_up"} <= set(kinds), kinds
    assert "originals_arrived" in kinds or "postal_delivered" in kinds, kinds
    [pickup_entry] = [e for e in postal if e["kind"] == "postal_picked_up"]
    assert pickup_entry["details"]["tracking_number"] == client.get(url(order), headers=h).json()["tracking_number"]
