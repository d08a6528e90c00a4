"""A protocol-accurate fake SMS gateway, served over real HTTP (uvicorn) in a thread.

It plays the gateway side of what docs/NOTIFICATIONS_SMS.md describes for the ``http`` plugin:

* ``POST /sms/send``: checks the credentials as configured (``auth``: bearer, basic, header ``X-API-Key``,
  ``body`` = username/password fields, or none: 401 ``{"error": "unauthorized"}``), the content type of
  ``body_format`` (415), the fields ``to`` (84 + a Vietnamese mobile number, else 400 ``invalid_number``;
  a number in ``blocked`` gives 400 ``number_blocked``), ``text`` (1 to 1,000 characters, 400 ``empty_text``
  / ``text_too_long``), ``sender`` (a registered brandname, 400 ``brandname_not_registered``) and
  ``reference`` (the same reference twice answers the first message id: a retried request sends nothing
  twice). Answers 200 ``{"status": "accepted", "data": {"message_id": "SMS…"}}``.
* ``POST /legacy/send``: the style of older Vietnamese gateways: always HTTP 200, the result in
  ``{"CodeResult": "100", "SMSID": …}``; ``CodeResult`` 99 means "busy, try later", 104 a refused number.

Test hooks: ``fail_next(n, status=500)``, ``delay_next(seconds)`` (a slow answer, the request still handled
afterwards), ``sent`` (what was taken: phone, text, sender, reference, message id), ``requests`` (headers and
fields of every request), and the delivery receipts it would post back: ``receipt(...)`` builds a signed
request (body and headers) with its own HMAC code, ``post_receipt(client, url, ...)`` sends it with any
client that has ``post(url, content=, headers=)`` (a TestClient, an httpx.Client).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.payments.fake_vnpay import ThreadedServer

MOBILE = re.compile(r"84(3|5|7|8|9)\d{8}")
TEXT_MAX = 1000


@dataclass
class Sent:
    phone: str
    text: str
    sender: str
    reference: str
    message_id: str
    fields: dict[str, Any]


@dataclass
class FakeSmsGateway:
    auth: str = "bearer"  # bearer | basic | header | body | none
    body_format: str = "json"  # json | form
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    username: str = "ubnd-tinh"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    brandnames: frozenset[str] = frozenset({"DVC-TINH"})
    blocked: set[str] = field(default_factory=set)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sent: list[Sent] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failures: list[int] = field(default_factory=list)
    _delays: list[float] = field(default_factory=list)
    _by_reference: dict[str, str] = field(default_factory=dict)
    server: ThreadedServer | None = None

    # -- the server

    def start(self) -> FakeSmsGateway:
        app = Starlette(
            routes=[
                Route("/sms/send", self._send, methods=["POST"]),
                Route("/legacy/send", self._legacy_send, methods=["POST"]),
            ]
        )
        self.server = ThreadedServer(app).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server
        return self.server.url

    def options(self, **over: Any) -> dict[str, Any]:
        """PORTAL_SMS_OPTIONS that speak to this fake as configured."""
        options: dict[str, Any] = {
            "url": f"{self.url}/sms/send",
            "body_format": self.body_format,
            "sender": sorted(self.brandnames)[0],
            "auth": self.auth,
            "message_id_path": "data.message_id",
            "callback_secret": self.secret,
            "timeout_seconds": 2,
        }
        if self.auth in ("bearer", "header"):
            options["token"] = self.token
        if self.auth in ("basic", "body"):
            options.update(username=self.username, password=self.password)
        options.update(over)
        return options

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delays.append(seconds)

    # -- the gateway's checks

    async def _prelude(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        with self._lock:
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
        if delay:
            await asyncio.sleep(delay)
        if failure:
            return None, Response("upstream error", status_code=failure)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        raw = await request.body()
        fields: dict[str, Any]
        if self.body_format == "json":
            if content_type != "application/json":
                return None, JSONResponse({"error": "unsupported_media_type"}, status_code=415)
            try:
                loaded = json.loads(raw)
            except ValueError:
                return None, JSONResponse({"error": "invalid_json"}, status_code=400)
            if not isinstance(loaded, dict):
                return None, JSONResponse({"error": "invalid_json"}, status_code=400)
            fields = loaded
        else:
            if content_type != "application/x-www-form-urlencoded":
                return None, JSONResponse({"error": "unsupported_media_type"}, status_code=415)
            fields = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        with self._lock:
            self.requests.append({"headers": dict(request.headers), "fields": dict(fields)})
        if not self._authorized(request, fields):
            return None, JSONResponse({"error": "unauthorized"}, status_code=401)
        return fields, None

    def _authorized(self, request: Request, fields: dict[str, Any]) -> bool:
        header = request.headers.get("authorization", "")
        if self.auth == "bearer":
            return hmac.compare_digest(header, f"Bearer {self.token}")
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return hmac.compare_digest(header, f"Basic {expected}")
        if self.auth == "header":
            return hmac.compare_digest(request.headers.get("x-api-key", ""), self.token)
        if self.auth == "body":
            return fields.get("username") == self.username and hmac.compare_digest(
                str(fields.get("password", "")), self.password
            )
        return True

    def _refusal(self, fields: dict[str, Any]) -> str | None:
        phone, text = str(fields.get("to", "")), fields.get("text")
        if not MOBILE.fullmatch(phone):
            return "invalid_number"
        if phone in self.blocked:
            return "number_blocked"
        if not isinstance(text, str) or not text:
            return "empty_text"
        if len(text) > TEXT_MAX:
            return "text_too_long"
        if fields.get("sender") not in self.brandnames:
            return "brandname_not_registered"
        return None

    def _take(self, fields: dict[str, Any]) -> str:
        reference = str(fields.get("reference", ""))
        with self._lock:
            if reference and reference in self._by_reference:
                return self._by_reference[reference]
            message_id = "SMS" + secrets.token_hex(8).upper()
            if reference:
                self._by_reference[reference] = message_id
            self.sent.append(
                Sent(
                    phone=str(fields["to"]),
                    text=str(fields["text"]),
                    sender=str(fields.get("sender", "")),
                    reference=reference,
                    message_id=message_id,
                    fields=dict(fields),
                )
            )
            return message_id

    async def _send(self, request: Request) -> Response:
        fields, refused = await self._prelude(request)
        if refused is not None or fields is None:
            return refused or Response(status_code=500)
        reason = self._refusal(fields)
        if reason:
            return JSONResponse({"status": "refused", "error": reason}, status_code=400)
        return JSONResponse({"status": "accepted", "data": {"message_id": self._take(fields)}})

    async def _legacy_send(self, request: Request) -> Response:
        fields, refused = await self._prelude(request)
        if refused is not None or fields is None:
            return refused or Response(status_code=500)
        if fields.get("to") == "84999999999":
            return JSONResponse({"CodeResult": "99", "ErrorMessage": "He thong ban, thu lai sau"})
        reason = self._refusal(fields)
        if reason:
            return JSONResponse({"CodeResult": "104", "ErrorMessage": reason})
        return JSONResponse({"CodeResult": "100", "SMSID": self._take(fields)})

    # -- delivery receipts, as the gateway posts them

    def receipt(
        self,
        receipts: dict[str, Any] | list[dict[str, Any]],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        form: bool = False,
        sign: bool = True,
    ) -> tuple[bytes, dict[str, str]]:
        """A receipt callback's body and headers, signed hex HMAC-SHA256 over "<timestamp>.<body>"."""
        if form:
            assert isinstance(receipts, dict)
            body = urlencode(receipts).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(receipts, ensure_ascii=False).encode()
            content_type = "application/json"
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"content-type": content_type, "x-timestamp": ts}
        if sign:
            key = (self.secret if secret is None else secret).encode()
            headers["x-signature"] = hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return body, headers

    def post_receipt(self, client: Any, url: str, receipts: dict[str, Any] | list[dict[str, Any]], **kw: Any) -> Any:
        body, headers = self.receipt(receipts, **kw)
        return client.post(url, content=body, headers=headers)
