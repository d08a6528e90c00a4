"""Shared helpers of the postal API tests: orders made by `postal.service.create_order`, operator clients, proof
images and the calls of the API."""

from __future__ import annotations

import io
import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image, ImageDraw
from sqlmodel import Session, col, select

from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.settings import Settings
from postal import service
from postal.models import ParcelKind, PostalEvent, PostalOrder
from tests.api.test_token_and_api import bearer, get_token, new_client

CENTRE = {
    "name": "Trung tâm Phục vụ hành chính công phường Hoa Lư",
    "phone": "0912000111",
    "province": "37",
    "ward": "14329",  # Phường Hoa Lư
    "street": "Số 1, đường Lê Hoàn",
}
HOME = {
    "name": "Nguyễn Thị Hoa",
    "phone": "0912345678",
    "province": "37",
    "ward": "13666",  # Phường Nam Định
    "street": "Số 12, đường Trần Hưng Đạo",
    "notes": "Gọi trước khi giao",
}
CONTENTS = [{"id": "giay_xac_nhan", "name_vi": "Giấy xác nhận tình trạng hôn nhân", "name_en": "Marital status"}]


def operator_headers(client: TestClient, app: Any, operator: str = "vnpost") -> dict[str, str]:
    """The bearer header of a new postal client bound to `operator`."""
    client_id, secret = new_client(app, "postal", operator=operator)
    return bearer(get_token(client, client_id, secret))


def committed_order(
    app: Any,
    settings: Settings,
    *,
    kind: ParcelKind = ParcelKind.DELIVERY,
    cod_amount: int = 0,
    province: str = "37",
    age: timedelta = timedelta(hours=2),
    owner_id: str | None = None,
    reference: str | None = None,
    owner_kind: str = "test",
) -> PostalOrder:
    """A committed order made by the postal service, as the dossier domain makes one, then dated `age` ago (its
    creation and its `created` event) so that events may be reported at earlier times of its life."""
    recipient = {**HOME, "province": province, "ward": HOME["ward"] if province == "37" else _ward_of(province)}
    sender = CENTRE
    if kind == ParcelKind.PICKUP:
        sender, recipient = recipient, CENTRE
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        order = service.create_order(
            session=s,
            settings=settings,
            kind=kind,
            owner_id=owner_id or secrets.token_hex(16),
            owner_kind=owner_kind,
            reference=reference or f"UBXA-T-{secrets.token_hex(4)}",
            sender=sender,
            recipient=recipient,
            province_code=province,
            contents=CONTENTS,
            weight_class="document",
            fee=30_000,
            cod_amount=cod_amount,
        )
        s.flush()
        backdate(s, order, age)
        s.commit()
        return order


def claimed_order(
    client: TestClient,
    app: Any,
    settings: Settings,
    headers: dict[str, str],
    *,
    age: timedelta = timedelta(hours=2),
    **kw: Any,
) -> PostalOrder:
    """An order claimed through the API by the client of `headers`, then dated `age` ago (its creation and claim)."""
    order = committed_order(app, settings, age=timedelta(0), **kw)
    r = client.post(url(order, "/claim"), json={}, headers=headers)
    assert r.status_code == 200, r.text
    age_order(app, order, age)
    return order


def age_order(app: Any, order: PostalOrder, age: timedelta) -> None:
    """Move a committed order's life so far `age` into the past."""
    with Session(writer(app.state.engine)) as s:
        row = s.get(PostalOrder, order.id)
        assert row is not None
        backdate(s, row, age)
        s.commit()
        order.created_at, order.claimed_at = row.created_at, row.claimed_at


def backdate(session: Session, order: PostalOrder, age: timedelta) -> None:
    """Move an order's creation (and the events it has so far) `age` into the past."""
    order.created_at = order.created_at - age
    order.status_at = order.status_at - age
    order.updated_at = order.updated_at - age
    if order.claimed_at is not None:
        order.claimed_at = order.claimed_at - age
    session.add(order)
    for event in session.exec(select(PostalEvent).where(col(PostalEvent.order_id) == order.id)):
        event.occurred_at = event.occurred_at - age
        event.recorded_at = event.recorded_at - age
        session.add(event)
    session.flush()


def _ward_of(province: str) -> str:
    from forms.address import wards

    return wards(province)[0][0]


def ago(**delta: float) -> str:
    """An RFC 3339 instant this long ago (UTC, `Z`)."""
    return iso(utcnow() - timedelta(**delta))


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def png(width: int = 120, height: int = 60) -> bytes:
    """A small signature on white, as a courier's handheld sends it."""
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).line([(10, 40), (40, 15), (70, 45), (110, 20)], fill="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 180, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def url(order: PostalOrder | str, tail: str = "") -> str:
    number = order if isinstance(order, str) else order.number
    return f"/api/v1/postal/orders/{number}{tail}"


def event(client: TestClient, headers: dict[str, str], order: PostalOrder | str, **body: Any) -> Response:
    body.setdefault("event_id", f"ev-{secrets.token_hex(6)}")
    body.setdefault("occurred_at", ago(minutes=30))
    return client.post(url(order, "/events"), json=body, headers=headers)


def deliver(
    client: TestClient,
    headers: dict[str, str],
    order: PostalOrder | str,
    *,
    image: bytes | None = None,
    filename: str = "chu-ky.png",
    media_type: str = "image/png",
    **fields: Any,
) -> Response:
    data: dict[str, Any] = {
        "event_id": f"ev-{secrets.token_hex(6)}",
        "occurred_at": ago(minutes=5),
        "recipient_name": "Nguyễn Thị Hoa",
        "relation": "self",
    }
    data.update(fields)
    data = {k: str(v) for k, v in data.items() if v is not None}
    files = {"proof": (filename, png() if image is None else image, media_type)}
    return client.post(url(order, "/delivery"), data=data, files=files, headers=headers)


def problem(r: Response, status: int) -> dict[str, Any]:
    """The problem-details body of a refusal with this status."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"]
    assert r.headers["cache-control"] == "no-store"
    return dict(body)


def all_orders(client: TestClient, headers: dict[str, str], limit: int = 100, **params: Any) -> list[dict[str, Any]]:
    """Every order of a listing, page after page until an empty one."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/postal/orders", params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["next_cursor"]
        items.extend(page["items"])
        if not page["items"]:
            return items
        cursor = page["next_cursor"]
    raise AssertionError("the listing never ends")
