"""The postal API's refusals (the issue's "Bad input"): each one a problem-details response, never a 500, and
nothing the order had is lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.kernel.clock import utcnow
from postal.models import PostalOrder
from tests.api.postal_helpers import (
    ago,
    claimed_order,
    committed_order,
    deliver,
    event,
    iso,
    operator_headers,
    png,
    problem,
    url,
)

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def vnpost(app) -> dict[str, str]:
    return operator_headers(TestClient(app), app)


@pytest.fixture()
def claimed(client: TestClient, app, settings, vnpost: dict[str, str]) -> PostalOrder:
    """A delivery order with cash to collect, created and claimed two hours ago."""
    return claimed_order(client, app, settings, vnpost, cod_amount=85_000)


def _events(client: TestClient, headers: dict[str, str], order: PostalOrder) -> list[dict[str, Any]]:
    r = client.get(url(order), headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


# -- another operator's order, an unknown order ---------------------------------------------------------------


def test_another_operators_order_and_an_unknown_number_are_the_same_404(
    client: TestClient, app, claimed: PostalOrder, vnpost: dict[str, str]
) -> None:
    other = operator_headers(client, app, "viettelpost")
    before = _events(client, vnpost, claimed)
    for number in (claimed.number, "BP0000000000", "x" * 20):
        for r in (
            client.get(url(number), headers=other),
            client.post(url(number, "/claim"), json={}, headers=other),
            event(client, other, number, status="in_transit"),
            deliver(client, other, number),
            client.get(url(number, "/label.pdf"), headers=other),
            client.get(url(number, "/proof"), headers=other),
        ):
            problem(r, 404)
    # The same words whether it exists for another operator or not at all.
    unknown = problem(client.get(url("BP0000000000"), headers=vnpost), 404)["detail"]
    assert problem(client.get(url(claimed), headers=other), 404)["detail"] == unknown
    assert _events(client, vnpost, claimed) == before  # nothing recorded
    problem(client.get(url("x" * 21), headers=vnpost), 422)  # longer than any number


# -- events: status, time, proof ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["lost", "", "DELIVERED", "created", "claimed", "cancelled", None, 3])
def test_an_unknown_or_a_portal_status_is_422(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], status: Any
) -> None:
    body = problem(event(client, vnpost, claimed, status=status), 422)
    assert body["errors"][0]["loc"] == ["body", "status"]


def test_delivered_without_proof_is_422_naming_the_delivery_route(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]
) -> None:
    body = problem(event(client, vnpost, claimed, status="delivered"), 422)
    [error] = body["errors"]
    assert error["loc"] == ["body", "status"] and "/delivery" in error["msg"] and "proof" in error["msg"]
    r = client.post(
        url(claimed, "/delivery"),
        data={"event_id": "d-1", "occurred_at": ago(minutes=5), "recipient_name": "Hoa", "relation": "self"},
        headers=vnpost,
    )
    assert ["body", "proof"] in [e["loc"] for e in problem(r, 422)["errors"]]


def test_event_times_in_the_future_before_the_order_or_without_a_zone_are_422(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]
) -> None:
    before = _events(client, vnpost, claimed)
    future = problem(
        event(client, vnpost, claimed, status="picked_up", occurred_at=iso(utcnow() + timedelta(hours=1))), 422
    )
    assert "future" in future["detail"]
    early = problem(event(client, vnpost, claimed, status="picked_up", occurred_at=ago(hours=3)), 422)
    assert "before" in early["detail"]
    for bad in ("2026-12-06T10:00:00", "2026-12-06", "yesterday", 0, "2026-13-01T00:00:00Z"):
        r = event(client, vnpost, claimed, status="picked_up", occurred_at=bad)
        assert problem(r, 422)["errors"][0]["loc"] == ["body", "occurred_at"]
    r = deliver(client, vnpost, claimed, occurred_at=iso(utcnow() + timedelta(days=1)), cod_collected=85_000)
    problem(r, 422)
    assert _events(client, vnpost, claimed) == before


def test_an_attempt_needs_a_reason(client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]) -> None:
    assert "reason" in problem(event(client, vnpost, claimed, status="delivery_attempted"), 422)["detail"]


def test_an_event_id_reused_for_other_content_is_409(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]
) -> None:
    when = ago(minutes=40)
    assert event(client, vnpost, claimed, event_id="same", status="picked_up", occurred_at=when).status_code == 200
    problem(event(client, vnpost, claimed, event_id="same", status="in_transit", occurred_at=when), 409)
    problem(event(client, vnpost, claimed, event_id="same", status="picked_up", occurred_at=ago(minutes=39)), 409)
    r = deliver(client, vnpost, claimed, event_id="same", cod_collected=85_000)
    problem(r, 409)
    assert [e["event_id"] for e in _events(client, vnpost, claimed)].count("same") == 1


@pytest.mark.parametrize(
    "body",
    [
        {"event_id": "", "status": "picked_up"},
        {"event_id": "có dấu", "status": "picked_up"},
        {"event_id": "x" * 81, "status": "picked_up"},
        {"status": "picked_up", "location": "x" * 201},
        {"status": "picked_up", "note": "x" * 501},
        {"status": "picked_up", "unknown": 1},
    ],
)
def test_malformed_events_are_422(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], body: dict[str, Any]
) -> None:
    problem(event(client, vnpost, claimed, **body), 422)


def test_a_body_that_is_not_json_is_a_problem(client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]) -> None:
    r = client.post(
        url(claimed, "/events"), content=b"{not json", headers={**vnpost, "Content-Type": "application/json"}
    )
    problem(r, 422)
    r = client.post(url(claimed, "/events"), data={"event_id": "a", "status": "picked_up"}, headers=vnpost)
    assert "application/json" in problem(r, 422)["detail"]


# -- proof of delivery and cash on delivery -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "filename", "media_type"),
    [
        (b"%PDF-1.7\n%%EOF\n", "chu-ky.pdf", "application/pdf"),
        (b"just text, named as a picture", "chu-ky.png", "image/png"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "broken.png", "image/png"),  # the signature of a PNG, no image
        (b"GIF89a" + b"\0" * 40, "chu-ky.gif", "image/gif"),
        (b"", "empty.png", "image/png"),
    ],
)
def test_proof_that_is_not_an_image_is_422(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], content: bytes, filename: str, media_type: str
) -> None:
    before = _events(client, vnpost, claimed)
    r = deliver(client, vnpost, claimed, image=content, filename=filename, media_type=media_type, cod_collected=85_000)
    problem(r, 422)
    assert _events(client, vnpost, claimed) == before
    problem(client.get(url(claimed, "/proof"), headers=vnpost), 404)


def test_proof_too_big_is_413(client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], settings) -> None:
    big = png() + b"\0" * settings.postal_proof_max_bytes
    body = problem(deliver(client, vnpost, claimed, image=big, cod_collected=85_000), 413)
    assert "KB" in body["detail"] or "MB" in body["detail"]
    assert client.get(url(claimed), headers=vnpost).json()["status"] == "claimed"


@pytest.mark.parametrize("collected", [None, 0, 80_000, 850_000])
def test_a_cod_amount_missing_or_other_than_the_orders_is_422(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], collected: int | None
) -> None:
    body = problem(deliver(client, vnpost, claimed, cod_collected=collected), 422)
    assert "85" in body["detail"] or "COD" in body["detail"] or "cash" in body["detail"].lower()
    assert client.get(url(claimed), headers=vnpost).json()["status"] == "claimed"
    r = deliver(client, vnpost, claimed, cod_collected=85_000)  # the right amount: delivered
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "fields",
    [
        {"relation": "neighbour"},
        {"recipient_name": ""},
        {"recipient_name": "x" * 121},
        {"cod_collected": "nhiều"},
        {"cod_collected": -1},
        {"occurred_at": "2026-12-06 10:00"},
        {"event_id": " "},
    ],
)
def test_malformed_deliveries_are_422(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], fields: dict[str, Any]
) -> None:
    problem(deliver(client, vnpost, claimed, **{"cod_collected": 85_000, **fields}), 422)


# -- claims, lists, statements ---------------------------------------------------------------------------------


def test_a_claim_on_a_claimed_order_is_409(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str], app
) -> None:
    tracking = client.get(url(claimed), headers=vnpost).json()["tracking_number"]
    problem(client.post(url(claimed, "/claim"), json={}, headers=vnpost), 409)
    problem(
        client.post(
            url(claimed, "/claim"), json={"tracking_number": "OTHER-123"}, headers=operator_headers(client, app)
        ),
        409,
    )
    assert client.get(url(claimed), headers=vnpost).json()["tracking_number"] == tracking


@pytest.mark.parametrize(
    "body", [{"tracking_number": "a b"}, {"tracking_number": "x"}, {"tracking_number": "Đ" * 8}, {"other": 1}, []]
)
def test_malformed_claims_are_422(client: TestClient, app, settings, vnpost: dict[str, str], body: Any) -> None:
    order = committed_order(app, settings)
    problem(client.post(url(order, "/claim"), json=body, headers=vnpost), 422)
    assert client.get(url(order), headers=vnpost).json()["status"] == "created"


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "o1.!!"},
        {"limit": 0},
        {"limit": 101},
        {"kind": "parcel"},
        {"status": "lost"},
        {"province": "1"},
        {"province": "ab"},
    ],
)
def test_bad_list_parameters_are_422(client: TestClient, vnpost: dict[str, str], params: dict[str, Any]) -> None:
    problem(client.get("/api/v1/postal/orders", params=params, headers=vnpost), 422)


@pytest.mark.parametrize("day", ["2026-1-5", "0", "yesterday", "2026-02-30", "10000-01-01"])
def test_bad_statement_days_are_422(client: TestClient, vnpost: dict[str, str], day: str) -> None:
    problem(client.get(f"/api/v1/postal/cod-statements/{day}", headers=vnpost), 422)
    problem(client.get(f"/api/v1/postal/cod-statements/{day}.csv", headers=vnpost), 422)


def test_a_proof_before_delivery_is_404(client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]) -> None:
    problem(client.get(url(claimed, "/proof"), headers=vnpost), 404)


def test_a_nul_character_is_422(client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]) -> None:
    problem(event(client, vnpost, claimed, status="picked_up", note="a\x00b"), 422)
    problem(deliver(client, vnpost, claimed, recipient_name="a\x00b", cod_collected=85_000), 422)


def test_the_proof_image_is_checked_before_anything_is_kept(
    client: TestClient, claimed: PostalOrder, vnpost: dict[str, str]
) -> None:
    """A refused delivery keeps nothing: the same event id then works with a good image."""
    r = deliver(client, vnpost, claimed, event_id="d-9", image=b"text", cod_collected=85_000)
    problem(r, 422)
    r = deliver(client, vnpost, claimed, event_id="d-9", image=png(), cod_collected=85_000)
    assert r.status_code == 200, r.text


def test_a_tracking_number_the_operator_already_used_is_409(
    client: TestClient, app, settings, vnpost: dict[str, str]
) -> None:
    first, second = committed_order(app, settings), committed_order(app, settings)
    number = f"VN-{first.number}"
    assert client.post(url(first, "/claim"), json={"tracking_number": number}, headers=vnpost).status_code == 200
    problem(client.post(url(second, "/claim"), json={"tracking_number": number}, headers=vnpost), 409)
    assert client.get(url(second), headers=vnpost).json()["status"] == "created"  # still free to claim
    assert client.post(url(second, "/claim"), json={}, headers=vnpost).status_code == 200


def test_events_before_the_claim_are_409(client: TestClient, app, settings, vnpost: dict[str, str]) -> None:
    order = committed_order(app, settings)
    problem(event(client, vnpost, order, status="picked_up", occurred_at=ago(minutes=30)), 409)
    problem(deliver(client, vnpost, order), 409)
    assert [e["status"] for e in _events(client, vnpost, order)] == ["created"]
