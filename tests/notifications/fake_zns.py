"""A protocol-accurate fake of Zalo's ZNS and OAuth servers for the tests: a real HTTP server in a thread.

- ``POST /message/template`` (header ``access_token``; JSON phone, template_id, template_data, tracking_id,
  optional mode) answers as ZNS does: HTTP 200 with ``{"error": 0, "message": "Success", "data": {"msg_id",
  "sent_time", "quota"}}`` or an error code (-124 token, -108 phone, -109 template, -131 not approved,
  -112 data, -118 not on Zalo, -141 refused by the user, -115 quota).
- ``POST /v4/oa/access_token`` (header ``secret_key``; form app_id, refresh_token, grant_type=refresh_token)
  renews the access token and rotates the refresh token (the old one stops working), as Zalo's OAuth does.
- ``script`` makes the next requests fail: ``("http", 500)``, ``("sleep", seconds)``, ``("error", code)``.
- ``event(...)`` builds the Official Account's signed ``user_received_message`` webhook (body and headers),
  and can forge it (another secret), age it, or point it at another app.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from portal.notifications.zalo import event_signature
from tests.http_server import Reply, Request, json_reply, serve_http

APP_ID = "3608465249409039670"
APP_SECRET = "app-secret-kZ8p"
OA_ID = "579745863508352884"
OA_SECRET_KEY = "oa-secret-Qm2x"


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeZns:
    """The state of the fake: valid tokens, registered templates, numbers with their fate, the calls."""

    # template id → parameter names; "approved": False gives -131
    templates: dict[str, set[str]] = field(
        default_factory=lambda: {"501443": {"dossier_code", "status", "date"}, "501444": {"dossier_code"}}
    )
    not_approved: set[str] = field(default_factory=set)
    not_on_zalo: set[str] = field(default_factory=set)  # phones: -118
    refusing: set[str] = field(default_factory=set)  # phones: -141 (the user refuses ZNS from the OA)
    access_tokens: set[str] = field(default_factory=lambda: {"at-initial"})
    refresh_token: str = "rt-initial"
    script: list[tuple[str, float]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # msg_id → the body sent
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def expire_tokens(self) -> None:
        """Every access token stops working (25 hours have passed)."""
        with self.lock:
            self.access_tokens.clear()

    def template_calls(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path == "/message/template"]

    # --- the webhook Zalo sends to the portal ---

    def event(
        self,
        msg_id: str,
        *,
        event_name: str = "user_received_message",
        tracking_id: str = "",
        delivered_ms: int | None = None,
        sent_ms: int | None = None,
        secret: str = OA_SECRET_KEY,
        app_id: str = APP_ID,
        signed_app_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a signed delivery event, as Zalo posts it."""
        now_ms = int(time.time() * 1000)
        timestamp = str(sent_ms if sent_ms is not None else now_ms)
        payload = {
            "app_id": app_id,
            "oa_id": OA_ID,
            "user_id_by_app": "2512523625412515",
            "event_name": event_name,
            "timestamp": timestamp,
            "sender": {"id": OA_ID},
            "recipient": {"id": "2512523625412515"},
            "message": {
                "msg_id": msg_id,
                "delivery_time": str(delivered_ms if delivered_ms is not None else now_ms - 2000),
                "tracking_id": tracking_id,
            },
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        mac = event_signature(
            app_id=signed_app_id if signed_app_id is not None else app_id,
            body=body,
            timestamp=timestamp,
            oa_secret_key=secret,
        )
        return body, {"X-ZEvent-Signature": mac, "Content-Type": "application/json"}

    # --- the servers ---

    def _next_scripted(self) -> tuple[str, float] | None:
        with self.lock:
            return self.script.pop(0) if self.script else None

    def answer_template(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        scripted = self._next_scripted()
        if scripted is not None:
            kind, value = scripted
            if kind == "sleep":
                time.sleep(value)
            elif kind == "http":
                return int(value), {"message": "Internal Server Error"}
            elif kind == "error":
                return 200, {"error": int(value), "message": f"scripted error {int(value)}"}
        with self.lock:
            token_ok = headers.get("access_token") in self.access_tokens
        if not token_ok:
            return 200, {"error": -124, "message": "Access token is invalid"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 200, {"error": -112, "message": "Body format invalid"}
        if not isinstance(body, dict) or set(body) - {"phone", "template_id", "template_data", "tracking_id", "mode"}:
            return 200, {"error": -112, "message": "Template data invalid"}
        phone, template_id, data = body.get("phone"), body.get("template_id"), body.get("template_data")
        if not isinstance(phone, str) or not phone.startswith("84") or not phone.isdigit() or len(phone) != 11:
            return 200, {"error": -108, "message": "Phone number invalid"}
        if template_id not in self.templates:
            return 200, {"error": -109, "message": "Template ID invalid"}
        if template_id in self.not_approved:
            return 200, {"error": -131, "message": "Template not approved"}
        if not isinstance(data, dict) or not data:
            return 200, {"error": -111, "message": "Template data empty"}
        if set(data) != self.templates[template_id] or not all(isinstance(v, str) for v in data.values()):
            return 200, {"error": -112, "message": "Template data invalid"}
        if phone in self.not_on_zalo:
            return 200, {"error": -118, "message": "Zalo account not existed"}
        if phone in self.refusing:
            return 200, {"error": -141, "message": "User rejects receiving ZNS from this OA"}
        tracking = body.get("tracking_id")
        if tracking is not None and (not isinstance(tracking, str) or len(tracking) > 48):
            return 200, {"error": -112, "message": "tracking_id invalid"}
        msg_id = secrets.token_hex(16)
        with self.lock:
            self.sent[msg_id] = body
            remaining = 500 - len(self.sent)
        return 200, {
            "error": 0,
            "message": "Success",
            "data": {
                "msg_id": msg_id,
                "sent_time": str(int(time.time() * 1000)),
                "quota": {"dailyQuota": "500", "remainingQuota": str(remaining)},
            },
        }

    def answer_oauth(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return 200, {"error": -14002, "error_name": "Invalid app", "error_description": "app secret invalid"}
        if form.get("grant_type") != "refresh_token":
            return 200, {"error": -14003, "error_name": "Invalid grant", "error_description": "grant_type"}
        with self.lock:
            if form.get("refresh_token") != self.refresh_token:
                return 200, {
                    "error": -14014,
                    "error_name": "Invalid refresh token",
                    "error_description": "Refresh token is invalid or used",
                }
            access = "at-" + secrets.token_hex(8)
            self.access_tokens.add(access)
            self.refresh_token = "rt-" + secrets.token_hex(8)
            return 200, {"access_token": access, "refresh_token": self.refresh_token, "expires_in": "90000"}


@contextmanager
def serve(given: FakeZns | None = None) -> Iterator[FakeZns]:
    """Run the fake on 127.0.0.1 (a free port) for the block; `fake.url` is its base URL."""
    fake = given or FakeZns()

    def handle(request: Request) -> Reply:
        with fake.lock:
            fake.calls.append(Call(request.path, request.headers, request.body))
        if request.path == "/message/template":
            status, answer = fake.answer_template(request.headers, request.body)
        elif request.path == "/v4/oa/access_token":
            status, answer = fake.answer_oauth(request.headers, request.body)
        else:
            status, answer = 404, {"error": 404, "message": "not found"}
        return json_reply(status, answer)

    with serve_http(handle) as url:
        fake.url = url
        yield fake
