"""Issue 14 over real HTTP, as an attacker and a careless integrator would use it: the public statistics, the
SMS receipts and Zalo events of configured providers, the notification preferences, the development page and
the inbox. The portal runs in uvicorn on a free port (SMS provider "http" with a callback secret, Zalo "zns"
with its OA secret key); every answer must be a clear 4xx, never a 500, and nothing may change on a refusal.

The regressions found this way (each fixed): a Zalo event nested deeper than the JSON parser's recursion
limit, or carrying a lone surrogate ("\\ud800") in its app id or timestamp, was a 500 before its signature was
even checked; an authentic SMS receipt nested too deeply or with a lone surrogate in its message or event id
was a 500; an X-Timestamp of superscript digits ("¹²", str.isdigit but not int) was a 500; a signed Zalo
timestamp or delivery time of 400 digits overflowed into a 500; callbacks read bodies up to the dossier upload
limit (now 1 MiB, 413); a phone number with Arabic-Indic or full-width digits ("09١٢٣٤٥٦٧٨") was saved as
a "Vietnamese mobile number"; a DD/MM/YYYY date in Arabic-Indic digits was read as a statistics date;
lang=xx on /api/stats answered a generic message that did not name the parameter.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select

from portal.app import create_app
from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from portal.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    ProviderCallback,
)
from portal.stats.figures import Figures
from tests.factories import account
from tests.stats import dataset
from tests.stats.dataset import PERIOD_FROM, PERIOD_TO, Dataset

pytestmark = pytest.mark.db

SMS_SECRET = secrets.token_urlsafe(24)
APP_ID = "4300000000000000001"
OA_SECRET = secrets.token_urlsafe(24)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PROBLEM = "application/problem+json"


@dataclass
class Served:
    url: str
    app: Any

    @property
    def engine(self) -> Any:
        return self.app.state.engine


def serve(settings: Settings) -> Iterator[Served]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(url, app)
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def configured(settings: Settings, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "sms_provider": "http",
            "sms_options": {"url": "https://sms.example.vn/send", "callback_secret": SMS_SECRET},
            "zalo_provider": "zns",
            "zalo_options": {"access_token": "token", "app_id": APP_ID, "oa_secret_key": OA_SECRET},
            "base_url": "http://127.0.0.1",
            **more,
        }
    )


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[Served]:
    yield from serve(configured(settings))


@pytest.fixture(scope="module")
def production(settings: Settings) -> Iterator[Served]:
    yield from serve(configured(settings, environment="production", payment_gateways=[]))


@pytest.fixture()
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=60, follow_redirects=False) as client:
        yield client


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body.get("detail"), body
    return body


# --- the public statistics ----------------------------------------------------------------------------------

REFUSED_QUERIES = [
    ("from=2026-12-31&to=2026-01-01", "from", "reversed"),
    ("from=1990-01-01&to=2100-12-31", "from", "too long"),
    ("from=0000-00-00", "from", "not a date"),
    ("to=9999-12-31", "to", "between"),
    ("from=2026-02-30", "from", "not a date"),
    ("from=%D9%A1/%D9%A1/%D9%A2%D9%A0%D9%A2%D9%A6", "from", "not a date"),  # ١/١/٢٠٢٦: was accepted
    ("from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01", "from", "not a date"),  # full-width digits
    ("from=a&from=b", "from", "more than once"),
    ("agency=KHONGCO", "agency", "no agency"),
    ("procedure=KHONGCO", "procedure", "no procedure"),
    ("field=KHONGCO", "field", "no field"),
    ("agency=%27%20OR%201%3D1--", "agency", "no agency"),
    ("field=%27%3B%20DROP%20TABLE%20dossier%3B--", "field", "no field"),
    ("agency=" + "A" * 5000, "agency", "no agency"),
    ("agency=%00", "agency", "no agency"),
    ("agency=%ED%A0%80", "agency", "no agency"),  # the UTF-8 of a lone surrogate
    ("lang=xx", "lang", "There is no language xx"),  # was the generic "Some values ... are not valid"
    ("lang=vi&lang=en", "lang", "more than once"),
    ("lang=", "lang", "There is no language"),
]


@pytest.mark.parametrize(("query", "param", "detail"), REFUSED_QUERIES)
def test_refused_statistics_queries_are_422_problems_naming_the_filter(
    http: httpx.Client, query: str, param: str, detail: str
) -> None:
    for path in ("/api/stats", "/api/stats.csv"):
        body = assert_problem(http.get(f"{path}?{query}"), 422)
        assert body["param"] == param, (path, query, body)
        assert detail in body["detail"], (path, query, body)
        assert (body["detail_vi"] and body["detail_vi"] != body["detail"]) or param == "lang", body
    if param != "lang":  # the page has no lang parameter (the language is the visitor's)
        page = http.get(f"/stats?{query}")
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html"), query


@pytest.mark.parametrize(
    "query",
    ["foo=bar", "from[]=2026-01-01", "%ED%A0%80=1", "&&&=", "x=" + "%FF" * 300],
)
def test_unknown_parameters_are_refused_by_the_machine_endpoints_and_ignored_by_the_page(
    http: httpx.Client, query: str
) -> None:
    for path in ("/api/stats", "/api/stats.csv"):
        body = assert_problem(http.get(f"{path}?{query}"), 422)
        assert "nknown parameter" in body["detail"] or "is given" in body["detail"], body
    assert http.get(f"/stats?{query}").status_code == 200


def test_other_methods_and_a_huge_url_are_4xx(http: httpx.Client) -> None:
    for path in ("/api/stats", "/api/stats.csv", "/stats"):
        assert http.head(path).status_code == 405  # FastAPI answers HEAD nowhere in this app (as "/")
        assert http.post(path).status_code in (403, 405)
    r = http.get("/api/stats?agency=" + "A" * 60_000)
    assert 400 <= r.status_code < 500, r.status_code


@pytest.fixture()
def committed(served: Served) -> Iterator[Dataset]:
    with Session(served.engine) as db, dataset.committed(db) as data:
        yield data


def test_json_csv_and_page_links_agree_over_http(http: httpx.Client, committed: Dataset) -> None:
    query = f"from={PERIOD_FROM.isoformat()}&to={PERIOD_TO.isoformat()}&field={committed.field}"
    figures = http.get(f"/api/stats?{query}").json()["figures"]
    export = http.get(f"/api/stats.csv?{query}")
    assert export.status_code == 200 and export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    exported = {r["key"]: r["value"] for r in rows if r["section"] == "figures"}
    for name in (f.name for f in fields(Figures) if f.name != "satisfaction"):
        value = figures[name]
        assert (exported[name] == "") if value is None else float(exported[name]) == value, name
    assert figures["received"] > 0 and figures["late"] > 0
    page = http.get(f"/stats?{query}")
    assert page.status_code == 200
    links = re.findall(r'href="(/api/stats(?:\.csv)?\?[^"]+)"', page.text)
    assert len(links) >= 2
    for link in links:
        answer = http.get(link.replace("&amp;", "&"))
        assert answer.status_code == 200, link
        if "stats.csv" not in link:
            assert answer.json()["figures"] == figures


# --- the SMS receipts ---------------------------------------------------------------------------------------

SMS_URL = "/api/notifications/sms/http/receipts"


def sms_headers(body: bytes, *, ts: str | None = None, secret: str = SMS_SECRET) -> dict[str, str]:
    ts = str(int(time.time())) if ts is None else ts
    signature = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-timestamp": ts, "x-signature": signature}


def sms_delivery(served: Served, *, provider: str = "http") -> tuple[str, str]:
    message_id = "SMS" + secrets.token_hex(8).upper()
    with Session(served.engine) as session:
        owner = account(session)
        notification = Notification(
            account_id=owner.id, kind="dossier.result_ready", dedupe_key=secrets.token_hex(8), link="/dossiers/x"
        )
        session.add(notification)
        session.flush()
        delivery = NotificationDelivery(
            notification_id=notification.id,
            account_id=owner.id,
            channel=NotificationChannel.SMS if provider == "http" else NotificationChannel.ZALO,
            provider=provider,
            recipient="84912345678",
            status=DeliveryStatus.SENT,
            content=(
                {
                    "language": "vi",
                    "to": "84912345678",
                    "text": "Ho so da co ket qua",
                    "encoding": "gsm7",
                    "segments": 1,
                }
                if provider == "http"
                else {"to": "84912345678", "template_id": "501443", "data": {"ma_ho_so": "H01.01-260101-0001"}}
            ),  # as the SendDelivery handler writes it (the development page shows it)
            provider_message_id=message_id,
            attempts=1,
            sent_at=utcnow(),
        )
        session.add(delivery)
        session.commit()
        return delivery.id, message_id


def status_of(served: Served, delivery_id: str) -> str:
    with Session(served.engine) as session:
        row = session.get(NotificationDelivery, delivery_id)
        assert row is not None
        return row.status


def callbacks(served: Served) -> int:
    with Session(served.engine) as session:
        return len(session.exec(select(ProviderCallback.id)).all())


def test_forged_stale_and_odd_signatures_are_401(http: httpx.Client, served: Served) -> None:
    delivery_id, message_id = sms_delivery(served)
    body = json.dumps({"message_id": message_id, "status": "delivered", "event_id": "e-forged"}).encode()
    now = int(time.time())
    tries: list[dict[str, Any]] = [
        {**sms_headers(body), "x-signature": "00" * 32},
        sms_headers(body, secret="not-the-secret"),
        sms_headers(body, ts=str(now - 1000)),
        sms_headers(body, ts=str(now + 1000)),
        sms_headers(body, ts="9" * 12),
        {**sms_headers(body), "x-signature": "zz"},
        {k: v for k, v in sms_headers(body).items() if k != "x-signature"},
        {k: v for k, v in sms_headers(body).items() if k != "x-timestamp"},
        # superscript digits: str.isdigit() but not int(): was a 500 before any signature check
        {**sms_headers(body), "x-timestamp": b"\xb9\xb2"},
        {**sms_headers(body), "x-signature": b"\xe9\xe9"},
    ]
    for headers in tries:
        assert_problem(http.post(SMS_URL, content=body, headers=headers), 401)
    assert status_of(served, delivery_id) == DeliveryStatus.SENT


def test_an_authentic_receipt_counts_once(http: httpx.Client, served: Served) -> None:
    delivery_id, message_id = sms_delivery(served)
    body = json.dumps({"message_id": message_id, "status": "DELIVRD", "event_id": secrets.token_hex(6)}).encode()
    headers = sms_headers(body)
    first = http.post(SMS_URL, content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"received": 1, "applied": 1, "ignored": 0}
    again = http.post(SMS_URL, content=body, headers=headers)  # the same callback replayed at once
    assert again.status_code == 200 and again.json() == {"received": 1, "applied": 0, "ignored": 1}
    assert status_of(served, delivery_id) == DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda mid: b"[" * 100_000 + b"]" * 100_000, 400),  # was a 500 (RecursionError)
        (lambda mid: b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400),
        # lone surrogates: was a 500 (the database driver cannot encode them)
        (lambda mid: b'{"message_id":"\\ud800","status":"delivered"}', 400),
        (lambda mid: b'{"message_id":"%s","status":"delivered","event_id":"\\udfff"}' % mid.encode(), 400),
        (lambda mid: b'{"message_id":"%s","status":"\\ud800"}' % mid.encode(), 400),
        (lambda mid: b'{"message_id":' + b"9" * 5000 + b',"status":"delivered"}', 400),
        (lambda mid: b'{"message_id":"%s","status":"delivered","time":1e300}' % mid.encode(), 422),
        (lambda mid: b'{"message_id":"%s","status":"delivered","time":NaN}' % mid.encode(), 422),
        (lambda mid: b'{"message_id":"%s","status":["delivered"]}' % mid.encode(), 422),
        (lambda mid: b'{"message_id":true,"status":"delivered"}', 422),
        (lambda mid: json.dumps([{"message_id": mid, "status": "delivered"}] * 501).encode(), 422),
        (lambda mid: b"[]", 422),
        (lambda mid: b"", 400),
        (lambda mid: b"\xff\xfe{", 400),
        (lambda mid: b"<receipt/>", 400),
    ],
)
def test_malformed_authentic_receipts_are_4xx_and_change_nothing(
    http: httpx.Client, served: Served, make: Any, status: int
) -> None:
    delivery_id, message_id = sms_delivery(served)
    before = callbacks(served)
    body = make(message_id)
    assert_problem(http.post(SMS_URL, content=body, headers=sms_headers(body)), status)
    assert status_of(served, delivery_id) == DeliveryStatus.SENT
    assert callbacks(served) == before


def test_content_types_and_sizes(http: httpx.Client, served: Served) -> None:
    delivery_id, message_id = sms_delivery(served)
    body = json.dumps({"message_id": message_id, "status": "delivered"}).encode()
    # A gateway that says text/plain for its JSON is still read as JSON (documented: JSON unless it is a form).
    r = http.post(SMS_URL, content=body, headers={**sms_headers(body), "content-type": "text/plain"})
    assert r.status_code == 200 and r.json()["applied"] == 1
    assert status_of(served, delivery_id) == DeliveryStatus.DELIVERED
    huge = b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}'  # was read whole up to the dossier upload limit
    assert_problem(http.post(SMS_URL, content=huge, headers=sms_headers(huge)), 413)
    batch = json.dumps([{"message_id": f"unknown-{i}", "status": "delivered"} for i in range(500)]).encode()
    r = http.post(SMS_URL, content=batch, headers=sms_headers(batch))
    assert r.status_code == 200 and r.json() == {"received": 500, "applied": 0, "ignored": 500}


def test_other_providers_paths_are_404_or_422(http: httpx.Client) -> None:
    body = b"{}"
    assert_problem(http.post("/api/notifications/sms/log/receipts", content=body, headers=sms_headers(body)), 404)
    r = http.post("/api/notifications/sms/" + "x" * 300 + "/receipts", content=body, headers=sms_headers(body))
    assert r.status_code == 422


# --- the Zalo events ----------------------------------------------------------------------------------------

ZALO_URL = "/api/notifications/zalo/events"


def zalo_signed(payload: dict[str, Any], *, secret: str = OA_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    mac = hashlib.sha256(APP_ID.encode() + body + str(payload["timestamp"]).encode() + secret.encode()).hexdigest()
    return body, {"content-type": "application/json", "x-zevent-signature": f"mac={mac}"}


def received(msg_id: str, **more: Any) -> dict[str, Any]:
    now_ms = str(int(time.time() * 1000))
    return {
        "event_name": "user_received_message",
        "app_id": APP_ID,
        "timestamp": now_ms,
        "message": {"msg_id": msg_id, "delivery_time": now_ms},
        **more,
    }


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # was a 500 before the signature was checked
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"app_id":"\\ud800","timestamp":"1"}',  # was a 500 before the signature was checked
        b'{"app_id":"' + APP_ID.encode() + b'","timestamp":"\\udc00"}',
        b'{"app_id":',
        b"[1]",
        b"\xff\xfe\x00",
        b"",
    ],
)
def test_unreadable_zalo_bodies_are_400_before_any_signature(http: httpx.Client, body: bytes) -> None:
    r = http.post(ZALO_URL, content=body, headers={"content-type": "application/json", "x-zevent-signature": "mac=0"})
    assert_problem(r, 400)


def test_zalo_forged_stale_and_overflowing_times(http: httpx.Client, served: Served) -> None:
    delivery_id, msg_id = sms_delivery(served, provider="zns")
    body, headers = zalo_signed(received(msg_id), secret="not-the-secret")
    assert_problem(http.post(ZALO_URL, content=body, headers=headers), 401)
    body, headers = zalo_signed(received(msg_id, timestamp=str(int(time.time() * 1000) - 10**7)))
    assert_problem(http.post(ZALO_URL, content=body, headers=headers), 401)
    for timestamp in ("9" * 400, int("9" * 400), True, 1.5, "١٢٣"):  # 400 digits: was an OverflowError (500)
        body, headers = zalo_signed(received(msg_id, timestamp=timestamp))
        assert_problem(http.post(ZALO_URL, content=body, headers=headers), 401)
    assert status_of(served, delivery_id) == DeliveryStatus.SENT
    # An authentic event whose delivery time overflows (was a 500): recorded at the event's signed time.
    event = received(msg_id)
    event["message"]["delivery_time"] = "9" * 400
    body, headers = zalo_signed(event)
    r = http.post(ZALO_URL, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"outcome": "recorded"}, r.text
    assert status_of(served, delivery_id) == DeliveryStatus.DELIVERED
    replay = http.post(ZALO_URL, content=body, headers=headers)
    assert replay.status_code == 200 and replay.json() == {"outcome": "unchanged"}


def test_zalo_wrong_shapes_and_sizes(http: httpx.Client) -> None:
    for event in (
        received(12345),  # type: ignore[arg-type]
        received("x" * 101),
        {**received("m"), "message": None},
        {**received("m"), "event_name": ["user_received_message"]},
    ):
        body, headers = zalo_signed(event)
        assert_problem(http.post(ZALO_URL, content=body, headers=headers), 422)
    body, headers = zalo_signed({**received("m"), "event_name": "follow"})
    r = http.post(ZALO_URL, content=body, headers={**headers, "content-type": "text/plain"})
    assert r.status_code == 200 and r.json() == {"outcome": "ignored"}
    huge = b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = http.post(ZALO_URL, content=huge, headers={"content-type": "application/json", "x-zevent-signature": "mac=0"})
    assert_problem(r, 413)


# --- preferences, the development page, the inbox -----------------------------------------------------------


def signed_up(served: Served) -> httpx.Client:
    client = httpx.Client(base_url=served.url, timeout=60, follow_redirects=False)
    token = CSRF_RE.search(client.get("/signup").text)
    assert token
    password = "mat-khau-rat-dai-2026"
    r = client.post(
        "/signup",
        data={
            "csrf_token": token.group(1),
            "login": f"qa-{secrets.token_hex(5)}@example.vn",
            "full_name": "Nguyễn Văn Thử",
            "password": password,
            "password2": password,
            "next": "/dossiers",
        },
    )
    assert r.status_code == 303, r.text[:500]
    return client


def token_of(client: httpx.Client) -> str:
    match = CSRF_RE.search(client.get("/notifications/preferences").text)
    assert match
    return match.group(1)


@pytest.fixture()
def citizen(served: Served) -> Iterator[httpx.Client]:
    client = signed_up(served)
    yield client
    client.close()


def save(client: httpx.Client, **fields: str) -> httpx.Response:
    return client.post("/notifications/preferences", data={"csrf_token": token_of(client), **fields})


@pytest.mark.parametrize(
    "phone",
    [
        "09١٢٣٤٥٦٧٨",  # Arabic-Indic digits after 09: was saved
        "09１２３４５６７８",  # full-width digits after 09: was saved
        "０９１２３４５６７８",
        "+84٩١٢٣٤٥٦٧٨",
        "0084912345678",
        "+1 202 555 0143",
        "+856 20 5555 5555",
        "+86 138 0013 8000",
        "+84 24 3825 1234",  # a Hanoi landline
        "0212345678",
        "091234567",
        "09123456789",
        "0912345678\x00",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "9" * 41,
    ],
)
def test_numbers_that_are_not_vietnamese_mobiles_are_refused(citizen: httpx.Client, phone: str) -> None:
    r = save(citizen, sms="on", phone=phone)
    assert r.status_code == 422, (phone, r.status_code)
    assert "text/html" in r.headers["content-type"]


@pytest.mark.parametrize(
    "phone", ["0912345678", "+84912345678", "84912345678", "+84 912 345 678", "0912.345.678", "(091) 234-5678"]
)
def test_vietnamese_forms_are_saved_nationally(served: Served, citizen: httpx.Client, phone: str) -> None:
    r = save(citizen, sms="on", phone=phone)
    assert r.status_code == 303 and r.headers["location"].endswith("?saved=1")
    page = citizen.get("/notifications/preferences").text
    assert 'value="0912345678"' in page


def test_csrf_sessions_and_double_submit(served: Served) -> None:
    a, b = signed_up(served), signed_up(served)
    anonymous = httpx.Client(base_url=served.url, timeout=60, follow_redirects=False)
    try:
        assert a.post("/notifications/preferences", data={"sms": "on", "phone": "0912345678"}).status_code == 403
        assert a.post("/notifications/preferences", data={"csrf_token": "x" * 40}).status_code == 403
        assert a.post("/notifications/preferences", data={"csrf_token": token_of(b)}).status_code == 403
        assert anonymous.post("/notifications/preferences", data={"email": "on"}).status_code == 403
        assert anonymous.get("/notifications/preferences").status_code in (302, 303)
        token = token_of(a)
        for _ in range(2):  # the same form sent twice: the same result, no error
            r = a.post("/notifications/preferences", data={"csrf_token": token, "sms": "on", "phone": "0987654321"})
            assert r.status_code == 303
        assert 'value="0987654321"' in a.get("/notifications/preferences").text
        assert 'value="0987654321"' not in b.get("/notifications/preferences").text
        for bad in ({"language": "xx"}, {"language": "vi" * 6}, {"email": "x" * 11}, {"phone": "9" * 41}):
            assert a.post("/notifications/preferences", data={"csrf_token": token, **bad}).status_code == 422
    finally:
        for client in (a, b, anonymous):
            client.close()


def test_another_citizens_notification_is_404_and_stays_unread(served: Served) -> None:
    a = signed_up(served)
    try:
        with Session(served.engine) as session:
            owner = account(session)
            other = Notification(
                account_id=owner.id, kind="dossier.result_ready", dedupe_key=secrets.token_hex(8), link="/x"
            )
            session.add(other)
            session.commit()
            other_id = other.id
        for target in (other_id, "khong-co", "' OR 1=1 --", "x" * 500):
            r = a.post(f"/notifications/{target}/read", data={"csrf_token": token_of(a)})
            assert r.status_code == 404, (target, r.status_code)
        with Session(served.engine) as session:
            row = session.get(Notification, other_id)
            assert row is not None and row.read_at is None
    finally:
        a.close()


def test_the_development_page_is_404_in_production(served: Served, production: Served) -> None:
    with httpx.Client(base_url=production.url, timeout=60) as client:
        assert client.get("/dev/notifications").status_code == 404
    with httpx.Client(base_url=served.url, timeout=60) as client:
        assert client.get("/dev/notifications").status_code == 200


# --- the OpenAPI document -----------------------------------------------------------------------------------


def test_every_new_machine_route_is_in_openapi_with_its_answers(http: httpx.Client) -> None:
    spec = http.get("/api/openapi.json").json()
    paths = spec["paths"]
    stats = paths["/api/stats"]["get"]
    assert stats["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/StatsOut")
    (lang,) = [p for p in stats["parameters"] if p["name"] == "lang"]
    assert lang["schema"].get("enum") == ["vi", "en"]
    assert "text/csv" in paths["/api/stats.csv"]["get"]["responses"]["200"]["content"]
    sms = paths["/api/notifications/sms/{provider}/receipts"]["post"]
    zalo = paths["/api/notifications/zalo/events"]["post"]
    for operation in (sms, zalo):
        assert {"200", "400", "401", "404", "413", "422"} <= set(operation["responses"])
        assert "application/json" in operation["requestBody"]["content"]
        for code in ("400", "401", "413", "422"):
            assert PROBLEM in operation["responses"][code]["content"]
    assert sms["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReceiptsAnswer")
    assert zalo["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ZaloEventAnswer")
