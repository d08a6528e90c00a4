"""localstripe (PyPI), a real local Stripe for the tests, and a thin front for what it leaves out.

``localstripe_url`` is a session fixture: it runs ``localstripe --port <free port> --from-scratch`` from the
virtualenv, waits until it answers and yields its URL. What localstripe 1.15 serves, as found:

* PaymentIntents: create (``confirm=true`` too), retrieve, ``/confirm`` (without a ``payment_method``),
  ``/cancel``, ``/capture``; the server-side test methods ``pm_card_visa``, ``pm_card_visa_chargeDeclined``
  (which it lets through) and ``pm_card_chargeCustomerFail`` (declined: 402 ``card_declined``);
* Refunds on a PaymentIntent (always ``succeeded`` at once);
* signed webhooks (``POST /_config/webhooks/{id}`` with ``url`` and ``secret``), sent a second after the event.

What it does not: Checkout Sessions (404), ``Idempotency-Key`` (ignored: every create is new),
``amount_received``, and parameters it does not model (``description``, ``return_url``: 400 "Unexpected …").

:class:`StripeFront` stands between the gateway and localstripe and plays Stripe's part in those gaps: it
answers a repeated ``Idempotency-Key`` with the first answer (and a 400 ``idempotency_error`` when the
parameters differ), and drops ``description`` / ``return_url`` on their way to localstripe. It records every
request as sent (``front.calls``), so the tests see exactly what the gateway put on the wire.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TEST_API_KEY = "sk_test_localstripe"
STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """The URL of a fresh localstripe, stopped at the end of the session."""
    exe = Path(sys.prefix) / "bin" / "localstripe"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run make test (it installs the dev extra, localstripe included)", pytrace=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        # --from-scratch: never load the store another localstripe left in /tmp/localstripe.pickle.
        proc = subprocess.Popen([str(exe), "--port", str(port), "--from-scratch"], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if proc.poll() is not None:
            log.seek(0)
            output = log.read()
            pytest.fail(f"localstripe exited ({proc.returncode}): {output.decode(errors='replace')[-2000:]}")
        try:
            auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
            if httpx.get(f"{url}/v1/balance", headers=auth, timeout=1).is_success:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"localstripe did not answer on {url} within {STARTUP_SECONDS} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class FrontCall:
    """One request as the gateway sent it (form fields flattened, as on the wire: ``metadata[reference]``)."""

    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, str]
    replayed: bool


class StripeFront:
    """An ASGI front to localstripe adding Stripe's idempotency and tolerating the parameters it does not model."""

    DROPPED = ("description", "return_url")  # real Stripe takes them on PaymentIntents; localstripe refuses them

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""  # where the front is served, set by whoever serves it
        self.calls: list[FrontCall] = []
        self._saved: dict[str, tuple[tuple[str, bytes], int, bytes]] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST", "DELETE"])])

    def calls_to(self, path: str, method: str = "POST") -> list[FrontCall]:
        return [c for c in self.calls if c.path == path and c.method == method]

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        fingerprint = (request.url.path, body)
        saved = self._saved.get(key) if key else None
        self.calls.append(FrontCall(request.method, request.url.path, key, dict(pairs), saved is not None))
        if saved is not None:
            if saved[0] != fingerprint:
                error = {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same parameters they were "
                    "first used with.",
                }
                return JSONResponse({"error": error}, status_code=400)
            return Response(
                saved[2], status_code=saved[1], media_type="application/json", headers={"Idempotent-Replayed": "true"}
            )
        if request.url.path.startswith("/v1/payment_intents"):
            pairs = [(k, v) for k, v in pairs if k not in self.DROPPED]
        headers = {"Authorization": request.headers.get("authorization", "")}
        if request.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        target = f"{self.upstream}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.request(request.method, target, content=urlencode(pairs), headers=headers)
        # Stripe saves the result once the request was executed (a card decline included), not a refused one.
        if key and (answer.status_code < 400 or answer.status_code == 402):
            self._saved[key] = (fingerprint, answer.status_code, answer.content)
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")
