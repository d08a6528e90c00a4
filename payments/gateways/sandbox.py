"""The sandbox bank: a payment gateway that runs inside the portal, for development and tests.

It behaves like a real redirect gateway, so everything around it is exercised for real:

* the payer is sent to the bank's page with a signed order token (amount, reference, where to come back);
  there they choose to pay, decline, cancel, or play a bank that does not answer;
* the bank keeps its own ledger (a SQLite file of its own: a bank is not the portal's database) that
  answers ``query_status`` and refunds;
* the browser comes back with a signed result (HMAC-SHA256 over the sorted parameters);
* the bank sends its server-to-server notification on its own, over HTTP, as JSON signed like Stripe's
  webhooks (``Sandbox-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, 5 minutes'
  tolerance): before the browser returns, after it, twice, or never (``notify`` option; "random" picks).

It never runs in production (the app refuses to start with it there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from payments.gateways.base import (
    Acknowledgement,
    CallbackRefused,
    GatewayConfigError,
    GatewayError,
    GatewayResult,
    InboundRequest,
    NotificationReply,
    Outcome,
    PaymentOrder,
    PaymentStart,
    RefundResult,
    register,
)

log = logging.getLogger("portal.payments.sandbox")
SIGNATURE_HEADER = "sandbox-signature"
CHOICES = ("pay", "decline", "cancel", "no_answer")
NotifyMode = Literal["random", "before", "after", "twice", "never"]


class SandboxOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: SecretStr
    """The key both sides sign with (the portal derives one from PORTAL_SECRET_KEY when not set)."""
    ledger: Path
    """The bank's own ledger (a SQLite file)."""
    notify: NotifyMode = "random"
    after_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    tolerance_seconds: int = Field(default=300, ge=1)
    timeout_seconds: float = Field(default=10.0, gt=0)


@dataclass(frozen=True)
class BankTransaction:
    reference: str
    amount: int
    currency: str
    description: str
    return_url: str
    notify_url: str
    status: str  # pending | succeeded | failed | cancelled
    transaction_id: str
    refunded: int
    expires_at: int


def _sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def canonical(params: Mapping[str, str]) -> str:
    """What a return is signed over: the parameters but `signature`, sorted, URL-encoded."""
    return urlencode(sorted((k, v) for k, v in params.items() if k != "signature"))


@register("sandbox")
class SandboxGateway:
    """A bank inside the app (development and tests only)."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = SandboxOptions
    label: ClassVar[Mapping[str, str]] = {"vi": "Ngân hàng thử nghiệm (sandbox)", "en": "Test bank (sandbox)"}

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self._secret = options.secret.get_secret_value()
        self.base_url = ""  # the portal's, set by bind(): the bank's pages are served by the portal
        # How notifications travel: a real HTTP client by default; tests may route them into an app.
        self.http: httpx.Client = httpx.Client(timeout=options.timeout_seconds)
        self._lock = threading.Lock()
        self._ready = False
        self.chooser: Callable[[], str] = lambda: random.choice(("before", "after", "twice", "never"))

    def bind(self, *, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def check_config(self) -> None:
        if len(self._secret) < 16:
            raise GatewayConfigError("the sandbox secret must be at least 16 characters")
        self._db()

    # -- the bank's ledger

    def _db(self) -> sqlite3.Connection:
        path = self.options.ledger
        if not self._ready:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise GatewayConfigError(f"the sandbox ledger's folder cannot be made: {exc}") from exc
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        if not self._ready:
            with self._lock:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS bank_txn (reference TEXT PRIMARY KEY, amount INTEGER, currency TEXT,"
                    " description TEXT, return_url TEXT, notify_url TEXT, status TEXT, transaction_id TEXT,"
                    " refunded INTEGER DEFAULT 0, expires_at INTEGER)"
                )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS bank_refund (refund_id TEXT PRIMARY KEY, reference TEXT,"
                    " amount INTEGER, transaction_id TEXT)"
                )
                self._ready = True
        return conn

    def ledger_entry(self, reference: str) -> BankTransaction | None:
        with closing(self._db()) as db:
            row = db.execute(
                "SELECT reference, amount, currency, description, return_url, notify_url, status, transaction_id,"
                " refunded, expires_at FROM bank_txn WHERE reference = ?",
                (reference,),
            ).fetchone()
        return BankTransaction(*row) if row else None

    # -- the order token carried to the bank's page (like VNPay's signed payment URL)

    def order_token(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> str:
        body = json.dumps(
            {
                "reference": order.reference,
                "amount": order.amount,
                "currency": order.currency,
                "description": order.description,
                "return_url": return_url,
                "notify_url": notify_url,
                "expires_at": int(order.expires_at.timestamp()),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{payload}.{_sign(self._secret, payload)}"

    def read_token(self, token: str) -> dict[str, Any]:
        """The order behind a token; ValueError when it was not made by us or has expired."""
        payload, _, signature = token.partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), _sign(self._secret, payload).encode()):
            raise ValueError("bad order token")
        order: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if int(order["expires_at"]) < time.time():
            raise ValueError("expired order")
        return order

    # -- the Protocol

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        token = self.order_token(order, return_url=return_url, notify_url=notify_url)
        return PaymentStart(redirect_url=f"{self.base_url}/sandbox-bank/pay?{urlencode({'order': token})}")

    def handle_return(self, request: InboundRequest) -> GatewayResult:
        q = dict(request.query)
        if "signature" not in q:
            # The payer came back without a result (the bank did not answer): the service asks the bank.
            reference = q.get("reference", "")
            if not reference:
                raise CallbackRefused("return without a result or a reference")
            return GatewayResult(reference=reference[:32], outcome=Outcome.PENDING, amount=0, currency="VND")
        if not hmac.compare_digest(q["signature"].encode(), _sign(self._secret, canonical(q)).encode()):
            raise CallbackRefused("bad return signature")
        return self._result(q, event_id=f"{q.get('transaction_id', '')}:{q.get('status', '')}")

    def handle_notification(self, request: InboundRequest) -> GatewayResult:
        header = request.headers.get(SIGNATURE_HEADER, "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        stamp, signature = parts.get("t", ""), parts.get("v1", "")
        if not stamp.isdigit() or not signature:
            raise CallbackRefused("missing or malformed Sandbox-Signature")
        expected = _sign(self._secret, f"{stamp}.{request.body.decode('utf-8', 'replace')}")
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise CallbackRefused("bad notification signature")
        if abs(time.time() - int(stamp)) > self.options.tolerance_seconds:
            raise CallbackRefused("notification timestamp outside the tolerance (a replay?)")
        try:
            event = json.loads(request.body)
            data = {k: str(v) for k, v in event["data"].items()}
            return self._result(data, event_id=str(event["id"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CallbackRefused(f"malformed notification: {exc}") from None

    def _result(self, data: Mapping[str, str], *, event_id: str) -> GatewayResult:
        try:
            outcome = Outcome(data["status"])
            amount = int(data["amount"])
        except (KeyError, ValueError):
            raise CallbackRefused("result without a valid status or amount") from None
        return GatewayResult(
            reference=data.get("reference", ""),
            outcome=outcome,
            amount=amount,
            currency=data.get("currency", ""),
            gateway_ref=data.get("transaction_id") or None,
            event_id=event_id,
            message=data.get("status", ""),
            raw=dict(data),
        )

    def notification_reply(self, ack: Acknowledgement) -> NotificationReply:
        status = {Acknowledgement.BAD_SIGNATURE: 400, Acknowledgement.ERROR: 500}.get(ack, 200)
        body = json.dumps({"received": ack.value}).encode()
        return NotificationReply(status_code=status, body=body, media_type="application/json")

    def query_status(self, order: PaymentOrder) -> GatewayResult:
        try:
            txn = self.ledger_entry(order.reference)
        except sqlite3.Error as exc:
            raise GatewayError(f"the sandbox bank's ledger cannot be read: {exc}") from exc
        if txn is None:  # the payer never reached the bank
            return GatewayResult(order.reference, Outcome.PENDING, order.amount, order.currency, message="not found")
        return GatewayResult(
            reference=txn.reference,
            outcome=Outcome(txn.status),
            amount=txn.amount,
            currency=txn.currency,
            gateway_ref=txn.transaction_id or None,
            message=txn.status,
        )

    def refund(self, order: PaymentOrder, *, amount: int, refund_id: str, reason: str) -> RefundResult:
        try:
            with closing(self._db()) as db:
                db.execute("BEGIN IMMEDIATE")
                done = db.execute("SELECT transaction_id FROM bank_refund WHERE refund_id = ?", (refund_id,)).fetchone()
                if done:
                    db.execute("COMMIT")
                    return RefundResult(Outcome.SUCCEEDED, gateway_ref=done[0], message="already refunded")
                row = db.execute(
                    "SELECT status, amount, refunded FROM bank_txn WHERE reference = ?", (order.reference,)
                ).fetchone()
                if row is None or row[0] != "succeeded" or amount <= 0 or row[2] + amount > row[1]:
                    db.execute("ROLLBACK")
                    return RefundResult(Outcome.FAILED, message="nothing left to refund on this transaction")
                ref = "RF" + secrets.token_hex(6).upper()
                db.execute("UPDATE bank_txn SET refunded = refunded + ? WHERE reference = ?", (amount, order.reference))
                db.execute("INSERT INTO bank_refund VALUES (?, ?, ?, ?)", (refund_id, order.reference, amount, ref))
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise GatewayError(f"the sandbox bank cannot refund now: {exc}") from exc
        return RefundResult(Outcome.SUCCEEDED, gateway_ref=ref, message=reason)

    # -- the bank's side: what the payer's button does

    def settle(self, order: Mapping[str, Any], choice: str) -> BankTransaction:
        """Record the payer's choice in the ledger (once: a second click keeps the first outcome)."""
        status = {"pay": "succeeded", "decline": "failed", "cancel": "cancelled", "no_answer": "pending"}[choice]
        transaction_id = "SB" + secrets.token_hex(6).upper() if choice in ("pay", "decline") else ""
        with closing(self._db()) as db:
            db.execute(
                "INSERT INTO bank_txn (reference, amount, currency, description, return_url, notify_url, status,"
                " transaction_id, refunded, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
                " ON CONFLICT(reference) DO UPDATE SET status = excluded.status,"
                " transaction_id = excluded.transaction_id WHERE bank_txn.status = 'pending'",
                (
                    order["reference"],
                    int(order["amount"]),
                    order["currency"],
                    order["description"],
                    order["return_url"],
                    order["notify_url"],
                    status,
                    transaction_id,
                    int(order["expires_at"]),
                ),
            )
        txn = self.ledger_entry(str(order["reference"]))
        assert txn is not None
        return txn

    def return_url(self, txn: BankTransaction) -> str:
        """Where the payer's browser goes back, with the signed result."""
        if txn.status == "pending":
            return f"{txn.return_url}?{urlencode({'reference': txn.reference})}"
        params = {
            "reference": txn.reference,
            "amount": str(txn.amount),
            "currency": txn.currency,
            "status": txn.status,
            "transaction_id": txn.transaction_id,
        }
        params["signature"] = _sign(self._secret, canonical(params))
        return f"{txn.return_url}?{urlencode(params)}"

    def notification(
        self, txn: BankTransaction, *, at: int | None = None, event_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The signed notification of a settled transaction: body and headers."""
        body = json.dumps(
            {
                "id": event_id or f"evt_{txn.transaction_id or txn.reference}_{txn.status}",
                "type": f"payment.{txn.status}",
                "data": {
                    "reference": txn.reference,
                    "amount": txn.amount,
                    "currency": txn.currency,
                    "status": txn.status,
                    "transaction_id": txn.transaction_id,
                },
            },
            separators=(",", ":"),
        ).encode()
        stamp = str(at if at is not None else int(time.time()))
        signature = _sign(self._secret, f"{stamp}.{body.decode()}")
        return body, {"Content-Type": "application/json", "Sandbox-Signature": f"t={stamp},v1={signature}"}

    def send_notification(self, txn: BankTransaction) -> int | None:
        """POST the notification to the portal; the HTTP status, or None when it could not be delivered."""
        body, headers = self.notification(txn)
        try:
            return self.http.post(txn.notify_url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            log.warning("sandbox bank could not notify %s: %s", txn.notify_url, exc)
            return None

    def notify_plan(self) -> str:
        """When this settlement's notification goes: before, after, twice or never."""
        return self.chooser() if self.options.notify == "random" else self.options.notify
