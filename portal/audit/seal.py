"""Daily seals of the audit chain (docs/AUDIT.md): a day's last event, its hash in a statement signed with the
portal's seal (detached CMS), and the files an outsider needs to check that nothing up to it changed.

A day's range is every event after the previous day's last one up to the last event stamped (`at`) before the
day's end, Asia/Ho_Chi_Minh, in chain (seq) order: an event stamped just before midnight and committed just
after may come after an event of the next day, and it stays in the range of the day it follows. A day is
sealed once; exporting it again writes the same statement and signature from the stored seal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.kernel.audit import GENESIS, AuditEvent, AuditSeal, canonical, iso_utc
from portal.kernel.clock import LOCAL_TZ, local, utcnow
from portal.kernel.outbox import WorkerContext, periodic
from portal.kernel.settings import Settings
from portal.kernel.uow import unit_of_work

log = logging.getLogger(__name__)

# A finished day is sealed this long after its end: transactions that stamped an event before midnight have
# committed by then.
GRACE = timedelta(minutes=10)
SEAL_EVERY_SECONDS = 3600.0
DAYS_PER_RUN = 31
_BATCH = 1000


class SealRefused(Exception):
    """A day that cannot be sealed (not over yet, or no seal configured)."""


@dataclass(frozen=True)
class Exported:
    statement: Path
    signature: Path
    events: Path
    certificates: Path


def day_start(day: date) -> datetime:
    """The first instant of the local day, timezone-aware."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def _last_seq_before(session: Session, end: datetime) -> int:
    """The greatest seq of the events stamped before `end` (0 when none). Events are stamped moments before they
    commit: the day before `end` is looked at first, the whole table only when it holds none."""
    chained = col(AuditEvent.seq).is_not(None)
    recent = select(func.max(AuditEvent.seq)).where(chained, col(AuditEvent.at) < end)
    found = session.exec(recent.where(col(AuditEvent.at) >= end - timedelta(days=1))).one()
    if found is None:
        found = session.exec(recent).one()
    return int(found or 0)


def _boundary(session: Session, day: date) -> int:
    """The last seq of `day`'s range: its stored seal's, else the last event stamped before the day ended (never
    before the previous day's boundary)."""
    sealed = session.get(AuditSeal, day)
    if sealed is not None:
        return sealed.last_seq
    return _last_seq_before(session, day_start(day + timedelta(days=1)))


def _hash_at(session: Session, seq: int) -> str:
    if seq == 0:
        return GENESIS
    found = session.exec(select(AuditEvent.hash).where(AuditEvent.seq == seq)).first()
    value = found[0] if isinstance(found, tuple) else found
    if not value:
        raise SealRefused(f"event seq {seq} is missing or not chained: run `portal audit verify`")
    return str(value)


def statement_bytes(doc: dict[str, Any]) -> bytes:
    """The signed statement: JSON, keys sorted, no spaces, UTF-8 (these exact bytes are `<day>.json`)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_statement(settings: Settings, data: bytes) -> bytes:
    """A detached CMS (PKCS#7) signature of `data` with the portal's seal, DER, carrying the seal's chain."""
    from signing.seal import get_sealer

    sealer = get_sealer(settings)
    if sealer is None:
        raise SealRefused("no seal is configured (PORTAL_SIGNING_SEAL_P12): the day cannot be sealed")
    key, cert, chain = sealer.signer.key_and_certificates()
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())  # type: ignore[arg-type]
    for extra in chain:
        builder = builder.add_certificate(extra)
    return builder.sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


def signature_valid(data: bytes, signature: bytes) -> bool:
    """Whether `signature` (detached CMS, DER) is an intact signature of `data` by the certificate it names.

    Checks integrity only (the digest and the signature value); who the signer is and whether the certificate
    is trusted is the outsider's `openssl cms -verify -CAfile` (docs/AUDIT.md).
    """
    try:
        signed = cms.ContentInfo.load(signature)["content"]
        infos = signed["signer_infos"]
        if len(infos) != 1:
            return False
        info = infos[0]
        sid = info["sid"].chosen
        certs = [c.chosen for c in signed["certificates"] if isinstance(c.chosen, asn1_x509.Certificate)]
        signer = next(c for c in certs if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native)
        algorithm = info["digest_algorithm"]["algorithm"].native
        digest = hashlib.new(algorithm, data).digest()
        intact, valid = validate_sig_integrity(info, signer, "data", digest)
        return bool(intact and valid)
    except Exception:  # anything unreadable is simply not a valid signature
        return False


def seal_day(session: Session, settings: Settings, day: date, *, now: datetime | None = None) -> AuditSeal:
    """The seal of `day`: the stored one, or a new one (signed, added and flushed). SealRefused for a day not
    over yet (or within `GRACE` of its end) and where no seal is configured."""
    existing = session.get(AuditSeal, day)
    if existing is not None:
        return existing
    now = now or utcnow()
    end = day_start(day + timedelta(days=1))
    if now < end + GRACE:
        raise SealRefused(f"{day.isoformat()} is not over yet (a day is sealed from {GRACE} after its end)")
    before = _boundary(session, day - timedelta(days=1))
    last = max(before, _last_seq_before(session, end))
    first_seq = before + 1 if last > before else None
    head_hash = _hash_at(session, last)
    doc = {
        "portal": settings.base_url,
        "encoding": "v1",
        "day": day.isoformat(),
        "first_seq": first_seq,
        "last_seq": last,
        "count": last - before,
        "head_hash": head_hash,
        "sealed_at": iso_utc(now),
    }
    statement = statement_bytes(doc)
    seal = AuditSeal(
        day=day,
        first_seq=first_seq,
        last_seq=last,
        head_hash=head_hash,
        count=last - before,
        sealed_at=now,
        signature=base64.b64encode(sign_statement(settings, statement)).decode(),
        statement=statement.decode(),
    )
    session.add(seal)
    session.flush()
    return seal


def day_events(session: Session, seal: AuditSeal) -> Iterator[bytes]:
    """The canonical encoding of each event of the seal's range, in seq order, in batches."""
    if seal.first_seq is None:
        return
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    after = seal.first_seq - 1
    while after < seal.last_seq:
        rows = session.connection().execute(
            core_select(table)
            .where(table.c.seq > after, table.c.seq <= seal.last_seq)
            .order_by(table.c.seq)
            .limit(_BATCH)
        )
        batch = [dict(row._mapping) for row in rows]
        if not batch:
            return
        for row in batch:
            yield canonical(row)
        after = batch[-1]["seq"]


def export_files(session: Session, seal: AuditSeal, out: Path) -> Exported:
    """Write `<day>.json`, `<day>.json.p7s`, `<day>.events.jsonl` and `<day>.chain.pem` (the certificates
    the signature carries: the seal's and its chain) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    name = seal.day.isoformat()
    signature = base64.b64decode(seal.signature)
    paths = Exported(
        statement=out / f"{name}.json",
        signature=out / f"{name}.json.p7s",
        events=out / f"{name}.events.jsonl",
        certificates=out / f"{name}.chain.pem",
    )
    paths.statement.write_bytes(seal.statement.encode())
    paths.signature.write_bytes(signature)
    certs = pkcs7.load_der_pkcs7_certificates(signature)
    paths.certificates.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    partial = paths.events.with_suffix(".jsonl.part")
    with partial.open("wb") as stream:
        for line in day_events(session, seal):
            stream.write(line + b"\n")
    partial.replace(paths.events)
    return paths


def days_to_seal(session: Session, today: date, *, limit: int = DAYS_PER_RUN) -> list[date]:
    """Finished days from the first event's day that have no seal yet, oldest first (at most `limit`)."""
    first = session.exec(select(func.min(AuditEvent.at))).one()
    first_at = first[0] if isinstance(first, tuple) else first
    if first_at is None:
        return []
    sealed = set(session.exec(select(col(AuditSeal.day))).all())
    days: list[date] = []
    day = local(first_at).date()
    while day < today and len(days) < limit:
        if day not in sealed:
            days.append(day)
        day += timedelta(days=1)
    return days


def seal_finished_days(engine: Engine, settings: Settings, *, now: datetime | None = None) -> list[date]:
    """Seal and export every finished day not sealed yet (each in its own transaction); returns them."""
    now = now or utcnow()
    with unit_of_work(engine, settings=settings) as session:
        days = [d for d in days_to_seal(session, local(now).date()) if now >= day_start(d + timedelta(days=1)) + GRACE]
    done = []
    for day in days:
        try:
            with unit_of_work(engine, write=True, settings=settings) as session:
                seal = seal_day(session, settings, day, now=now)
        except IntegrityError:  # another worker sealed it meanwhile: its seal stands, and it exports it
            continue
        with unit_of_work(engine, settings=settings) as session:  # written out without holding the write lock
            export_files(session, seal, Path(settings.audit_export_dir))
        done.append(day)
    return done


@periodic("audit.seal", lambda settings: SEAL_EVERY_SECONDS)
def seal_job(engine: Any, ctx: WorkerContext) -> None:
    try:
        sealed = seal_finished_days(engine, ctx.settings)
    except SealRefused as exc:
        log.warning("audit days not sealed: %s", exc)
        return
    if sealed:
        log.info("audit chain sealed for %d days (%s to %s)", len(sealed), sealed[0], sealed[-1])
