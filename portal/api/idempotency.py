"""`Idempotency-Key` on the POSTs of `/api/v1`: a retried request gets the first answer instead of acting twice.

A key is scoped to the client that sent it. The request is fingerprinted by method, path and body (JSON
canonicalised, so whitespace and key order do not matter; multipart by the parts' names, filenames and
content digests, never the boundary). Then:

- a new key: the route runs, and its successful answer is kept **in the same transaction** as what it did,
  so there is never a change without its kept answer or the other way round;
- the same key and the same fingerprint: the kept answer is sent again (status and body) with
  `Idempotent-Replayed: true`, and nothing runs;
- the same key and another fingerprint: 422;
- the same key while the first request still runs: 409 (on PostgreSQL a transaction-scoped advisory
  lock on the key, tried without waiting; on SQLite writers are serialised, so the second one waits and
  gets the replay). The primary key (client, key) is the last guard.

Refusals (4xx) are not kept: they changed nothing, and the same key may be sent again. A kept answer
lasts `KEEP_HOURS`: after that its key is free again, and the periodic job `api.idempotency_purge` deletes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from starlette.datastructures import UploadFile

from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.i18n import N_
from portal.kernel.idempotency import IdempotencyRecord
from portal.kernel.outbox import WorkerContext, periodic
from portal.kernel.uow import unit_of_work

M = TypeVar("M", bound=BaseModel)
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
KEEP_HOURS = 24
PURGE_EVERY_SECONDS = 3600  # visible ASCII, as the IETF draft's examples (UUIDs, ULIDs)


class Replayed(Exception):
    """The request repeats an earlier one: its kept answer is to be sent (see the partner route class)."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record


def _canonical_json(body: bytes) -> bytes:
    if not body.strip():
        body = b"{}"  # no body, `{}` and `null` are the same empty request (`start-processing` takes any)
    try:
        data = json.loads(body)
        canonical = json.dumps({} if data is None else data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return canonical.encode()  # a lone surrogate (\ud800) parses but cannot be encoded: UnicodeEncodeError
    except (ValueError, RecursionError):  # UnicodeDecodeError and UnicodeEncodeError are ValueErrors
        return body


async def fingerprint(request: Request) -> str:
    """SHA-256 of the request's method, path and body (multipart: each part's name, filename and digest)."""
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b"\n" + request.url.path.encode() + b"\n")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()  # already parsed by FastAPI for the route: cached on the request
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                await value.seek(0)
                part = f"file\0{name}\0{value.filename or ''}\0{hashlib.sha256(data).hexdigest()}"
            else:
                part = f"field\0{name}\0{hashlib.sha256(value.encode()).hexdigest()}"
            digest.update(part.encode() + b"\n")
    else:
        digest.update(_canonical_json(await request.body()))
    return digest.hexdigest()


def _lock_id(principal: str, key: str) -> int:
    raw = hashlib.sha256(f"{principal}\0{key}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


@dataclass
class Idempotency:
    """The idempotency of one POST: `answer()` keeps the route's answer when a key was sent."""

    session: Session
    principal: str
    key: str | None
    request_hash: str
    method: str
    path: str
    kept: bool = field(default=False)

    def answer(self, model: M, status_code: int = 200) -> M:
        """Keep this answer for the key (in the caller's transaction) and return it."""
        if self.key is None or self.kept:
            return model
        self.session.add(
            IdempotencyRecord(
                principal=self.principal,
                key=self.key,
                method=self.method,
                path=self.path[:300],
                request_hash=self.request_hash,
                status_code=status_code,
                body=jsonable_encoder(model.model_dump(mode="json")),
                content_type="application/json",
            )
        )
        try:
            self.session.flush()
        except IntegrityError:
            raise Conflict(N_("A request with this Idempotency-Key is being processed; retry it later.")) from None
        self.kept = True
        return model


def begin(
    session: Session, *, principal: str, key: str | None, request_hash: str, method: str, path: str
) -> Idempotency:
    """Check a POST's key: replay (raise Replayed), refuse (409, 422), or let the route run."""
    found = Idempotency(session, principal, key, request_hash, method, path)
    if key is None:
        return found
    if session.get_bind().dialect.name == "postgresql":
        locked = session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _lock_id(principal, key)})
        if not locked.scalar():
            raise Conflict(N_("A request with this Idempotency-Key is being processed; retry it later."))
    record = session.get(IdempotencyRecord, (principal, key))
    if record is not None and as_utc(record.created_at) < utcnow() - timedelta(hours=KEEP_HOURS):
        session.delete(record)  # expired: the key is free again
        session.flush()
        record = None
    if record is None:
        return found
    if record.request_hash != request_hash:
        raise Invalid(N_("This Idempotency-Key was already used for another request."))
    raise Replayed(record)


def replay_body(record: IdempotencyRecord) -> Any:
    """The kept body, as it was sent the first time."""
    return record.body


@periodic("api.idempotency_purge", lambda settings: PURGE_EVERY_SECONDS)
def purge_expired(engine: Engine, ctx: WorkerContext) -> None:
    """Delete the kept answers older than KEEP_HOURS (idempotent: every worker may run it)."""
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        cutoff = utcnow() - timedelta(hours=KEEP_HOURS)
        session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff))
