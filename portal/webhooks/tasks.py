"""The delivery of `webhook.deliver` messages: one signed POST per try, each try recorded (WebhookAttempt).

A 2xx answer is a delivery. Anything else (another status, a redirect, which is never followed, a timeout,
a refused connection) raises HandlerFailed, so the outbox retries the message later with the same
`webhook-id`, and finally dead-letters it. The handler is `Staged`: on PostgreSQL the message stays locked
while the POST runs, so two workers never send it at the same time; on SQLite it is leased instead, so a
slow receiver never holds the one write lock. A worker that dies mid-delivery leaves it due again
(at-least-once delivery: receivers dedupe by `webhook-id`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import httpx
from sqlmodel import Session

from portal.kernel.clock import utcnow
from portal.kernel.outbox import HandlerFailed, Staged, WorkerContext, current_message_id, staged
from portal.webhooks.endpoints import Endpoint, resolve
from portal.webhooks.models import WebhookAttempt
from portal.webhooks.outbox import DeliverWebhook
from portal.webhooks.signing import signature_header

log = logging.getLogger("portal.webhooks")
USER_AGENT = "portal-webhooks/1"
KEPT_BODY_CHARS = 500
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One client per process: its connection pool and TLS context are reused (a fresh client costs ~80 ms)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(follow_redirects=False, headers={"user-agent": USER_AGENT})
        return _client


def envelope(payload: DeliverWebhook) -> bytes:
    """The request body: {"type", "timestamp" (RFC 3339, UTC), "data"} as compact UTF-8 JSON."""
    document = {
        "type": payload.type,
        "timestamp": payload.timestamp.isoformat().replace("+00:00", "Z"),
        "data": payload.data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _start_of(response: httpx.Response) -> str:
    """The first KEPT_BODY_CHARS of the answer, for the attempt's record; the rest is never read (a receiver
    cannot make the worker hold a large body)."""
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= KEPT_BODY_CHARS:
            break
    return kept[:KEPT_BODY_CHARS].decode("utf-8", "replace")


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str

    @property
    def delivered(self) -> bool:
        return self.error is None


def send(endpoint: Endpoint, event_id: str, body: bytes, *, timeout: float) -> Outcome:
    """POST one signed body; never raises for what the receiver or the network does."""
    timestamp = int(utcnow().timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(endpoint.secrets, event_id, timestamp, body),
    }
    started = time.monotonic()
    status, error, text = None, None, ""
    try:
        request = _http().build_request("POST", endpoint.url, content=body, headers=headers, timeout=timeout)
        response = _http().send(request, stream=True, follow_redirects=False)
        try:
            status, text = response.status_code, _start_of(response)
        finally:
            response.close()
        if response.is_redirect:
            error = f"HTTP {status}: redirect to {response.headers.get('location', '?')} not followed"
        elif not response.is_success:
            error = f"HTTP {status}"
    except httpx.TimeoutException:
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return Outcome(status, error, int((time.monotonic() - started) * 1000), text)


@dataclass(frozen=True)
class Job:
    """One try, as prepared in the database: where, for which message, what."""

    message_id: int
    event_id: str
    endpoint: Endpoint
    body: bytes
    timeout: float


def prepare(session: Session, payload: DeliverWebhook, ctx: WorkerContext) -> Job | None:
    """The agency's endpoint and the body, or None when the agency has none (the push is skipped, and logged)."""
    endpoint = resolve(session, ctx.settings, payload.agency_code)
    if endpoint is None:
        log.info("push %s %s skipped: no webhook endpoint for %s", payload.event_id, payload.type, payload.agency_code)
        return None
    return Job(
        current_message_id(session) or 0,
        payload.event_id,
        endpoint,
        envelope(payload),
        ctx.settings.webhook_timeout_seconds,
    )


def perform(job: Job | None, ctx: WorkerContext) -> tuple[Job, Outcome] | None:
    """The signed POST (no database is held meanwhile on SQLite)."""
    if job is None:
        return None
    return job, send(job.endpoint, job.event_id, job.body, timeout=job.timeout)


def finish(session: Session, payload: DeliverWebhook, done: tuple[Job, Outcome] | None, ctx: WorkerContext) -> None:
    """Record the try; a failed one raises HandlerFailed (the outbox retries) and keeps its record."""
    if done is None:
        return
    job, outcome = done
    attempt = WebhookAttempt(
        message_id=job.message_id,
        event_id=payload.event_id,
        agency_code=payload.agency_code,
        url=job.endpoint.url,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        details={"type": payload.type, "response": outcome.response, "signatures": len(job.endpoint.secrets)},
    )
    if not outcome.delivered:
        raise HandlerFailed(f"{payload.type} to {job.endpoint.url}: {outcome.error}", keep=[attempt])
    session.add(attempt)
    log.info("push %s %s delivered to %s (%s)", payload.event_id, payload.type, job.endpoint.url, outcome.status_code)


# The longest a try can take is the timeout of each of its phases (connect, write, read, pool) and reading
# the start of the answer: a lease of four timeouts and a minute cannot end while the try still runs.
deliver = staged(
    DeliverWebhook,
    Staged(
        prepare=prepare,
        perform=perform,
        finish=finish,
        lease=lambda settings: 4 * settings.webhook_timeout_seconds + 60,
    ),
)
