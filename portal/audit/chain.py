"""Verifying the audit chain (`portal audit verify`, docs/AUDIT.md): every hash recomputed, every link, the seqs
without gaps or duplicates, no event outside the chain, the head row, and the sealed days.

The walk reads the events by seq in batches (a year of events is never loaded at once), in one read
transaction: a consistent snapshot (REPEATABLE READ on PostgreSQL; SQLite's read transaction is one already),
so events appended meanwhile by the portal are neither seen nor mistaken for insertions.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from portal.audit.seal import signature_valid
from portal.kernel.audit import GENESIS, AuditEvent, AuditHead, AuditSeal, event_hash

BATCH = 1000


@dataclass(frozen=True)
class Problem:
    """The first bad thing found: which event (seq and id, when there is one), what is wrong, in words."""

    what: str  # edited | deleted | inserted | reordered | not chained | broken link | head | seal
    message: str
    seq: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class Verdict:
    checked: int  # events walked
    last_seq: int
    problem: Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _name(row: Any) -> str:
    return f"event seq {row['seq']} (id {row['id']})"


def _events() -> Any:
    return AuditEvent.__table__  # type: ignore[attr-defined]


def _row(connection: Connection, **where: Any) -> dict[str, Any] | None:
    table = _events()
    query = select(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    found = connection.execute(query.limit(1)).first()
    return dict(found._mapping) if found else None


def _link_problem(
    connection: Connection, row: dict[str, Any], prev: dict[str, Any] | None, before_prev: str | None
) -> Problem:
    """Why `row`'s prev_hash is not the hash of the event before it."""
    if prev is not None and before_prev is not None and row["prev_hash"] == before_prev:
        return Problem(
            "inserted",
            f"{_name(prev)} was inserted: {_name(row)} is chained to the event before it",
            prev["seq"],
            prev["id"],
        )
    if row["prev_hash"]:
        other = _row(connection, hash=row["prev_hash"])
        if other is not None and other["id"] != (prev or {}).get("id"):
            return Problem(
                "reordered",
                f"{_name(row)} was reordered: it was written right after event id {other['id']}, "
                f"which is now seq {other['seq']}",
                row["seq"],
                row["id"],
            )
    before = f"event seq {row['seq'] - 1}"
    return Problem(
        "broken link",
        f"{_name(row)} is not linked to {before}: {before} was edited and its hash rewritten, "
        "or events were inserted or deleted between them",
        row["seq"],
        row["id"],
    )


def _walk(connection: Connection, from_seq: int, head_seq: int) -> Verdict:
    table = _events()
    prev: dict[str, Any] | None = None
    prev_hash = GENESIS
    before_prev: str | None = None
    expected = from_seq
    if from_seq > 1:
        prev = _row(connection, seq=from_seq - 1)
        if prev is None:
            return Verdict(0, 0, Problem("deleted", f"event seq {from_seq - 1} is missing (deleted)", from_seq - 1))
        prev_hash, before_prev = prev["hash"], prev["prev_hash"]
    checked = 0
    after = from_seq - 1
    while True:
        rows = connection.execute(select(table).where(table.c.seq > after).order_by(table.c.seq).limit(BATCH)).all()
        if not rows:
            break
        for found in rows:
            row = dict(found._mapping)
            seq = row["seq"]
            if seq > head_seq:
                what = f"beyond the chain head (seq {head_seq})"
                return Verdict(
                    checked, expected - 1, Problem("inserted", f"{_name(row)} was inserted: {what}", seq, row["id"])
                )
            if seq > expected:
                gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected} to {seq - 1}"
                message = f"{_name(row)}: {seq - expected} event(s) deleted before it ({gap} missing)"
                return Verdict(checked, expected - 1, Problem("deleted", message, seq, row["id"]))
            if not row["hash"] or row["prev_hash"] is None:
                return Verdict(
                    checked,
                    expected - 1,
                    Problem("not chained", f"{_name(row)} has no hash: not chained", seq, row["id"]),
                )
            if row["prev_hash"] != prev_hash:
                return Verdict(checked, expected - 1, _link_problem(connection, row, prev, before_prev))
            if event_hash(row) != row["hash"]:
                message = f"{_name(row)} was edited: its content no longer matches its hash"
                return Verdict(checked, expected - 1, Problem("edited", message, seq, row["id"]))
            before_prev, prev_hash, prev = prev_hash, row["hash"], row
            expected += 1
            checked += 1
        after = rows[-1]._mapping["seq"]
    last_seq = expected - 1
    if last_seq < head_seq:
        if prev is None and from_seq == 1:
            message = f"the chain is empty but its head says seq {head_seq}: every event was deleted"
        else:
            message = (
                f"the chain head says seq {head_seq} but the last event is seq {last_seq}: the last events were deleted"
            )
        return Verdict(checked, last_seq, Problem("deleted", message, last_seq + 1))
    return Verdict(checked, last_seq, None)


def _unchained(connection: Connection) -> Problem | None:
    table = _events()
    found = connection.execute(
        select(table.c.id, func.count().over())
        .where(or_(table.c.seq.is_(None), table.c.seq < 1))
        .order_by(table.c.id)
        .limit(1)
    ).first()
    if found is None:
        return None
    others = f" ({found[1]} such events)" if found[1] > 1 else ""
    return Problem(
        "not chained",
        f"event id {found[0]} is not chained (no valid seq): inserted after the fact, or written around the chain "
        f"writer{others}",
        None,
        found[0],
    )


def _seal_problem(session: Session, connection: Connection, seal: AuditSeal) -> Problem | None:
    day = seal.day.isoformat()
    try:
        stated = json.loads(seal.statement)
    except ValueError:
        return Problem("seal", f"sealed day {day}: the stored statement is not JSON (edited)", seal.last_seq)
    columns = {
        "day": day,
        "first_seq": seal.first_seq,
        "last_seq": seal.last_seq,
        "count": seal.count,
        "head_hash": seal.head_hash,
    }
    if any(stated.get(name) != value for name, value in columns.items()):
        return Problem(
            "seal", f"sealed day {day}: the seal's row no longer matches its signed statement", seal.last_seq
        )
    if not signature_valid(seal.statement.encode(), base64.b64decode(seal.signature)):
        return Problem("seal", f"sealed day {day}: the statement's signature does not verify", seal.last_seq)
    if seal.last_seq == 0:
        return None if seal.head_hash == GENESIS else Problem("seal", f"sealed day {day}: wrong empty head", 0)
    row = _row(connection, seq=seal.last_seq)
    if row is None:
        return Problem("seal", f"sealed day {day}: its last event, seq {seal.last_seq}, was deleted", seal.last_seq)
    if row["hash"] != seal.head_hash:
        return Problem(
            "seal",
            f"sealed day {day}: {_name(row)} no longer has the sealed hash: events up to it were changed after the day "
            "was sealed (and the chain rewritten)",
            row["seq"],
            row["id"],
        )
    return None


def verify(session: Session, *, from_seq: int = 1) -> Verdict:
    """Walk the chain from `from_seq` (trusting the stored hash of the event before it) and check the head, the
    events outside the chain and every sealed day. Stops at the first problem."""
    if session.get_bind().dialect.name == "postgresql":
        connection = session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        connection = session.connection()
    head = connection.execute(select(AuditHead.__table__).where(AuditHead.__table__.c.id == 1)).first()  # type: ignore[attr-defined]
    if head is None:
        last = connection.execute(select(func.max(_events().c.seq))).scalar()
        if last:
            return Verdict(0, 0, Problem("head", f"the chain head row is missing (the chain has {last} events)"))
        head_seq, head_hash = 0, GENESIS
    else:
        head_seq, head_hash = int(head._mapping["seq"]), str(head._mapping["hash"])
    if from_seq > head_seq + 1:
        raise ValueError(f"the chain has {head_seq} events: nothing to verify from seq {from_seq}")
    verdict = _walk(connection, from_seq, head_seq)
    if verdict.problem is not None:
        return verdict
    if verdict.last_seq == head_seq and head_seq > 0:
        last = _row(connection, seq=head_seq)
        if last is not None and last["hash"] != head_hash:
            message = f"the chain head's hash is not the hash of its last event, {_name(last)}: the head was edited"
            return Verdict(verdict.checked, verdict.last_seq, Problem("head", message, last["seq"], last["id"]))
    elif head_seq == 0 and head_hash != GENESIS:
        return Verdict(verdict.checked, 0, Problem("head", "the empty chain's head has a hash: the head was edited"))
    unchained = _unchained(connection)
    if unchained is not None:
        return Verdict(verdict.checked, verdict.last_seq, unchained)
    for seal in session.exec(select_rows(AuditSeal).order_by(col(AuditSeal.day))).all():
        problem = _seal_problem(session, connection, seal)
        if problem is not None:
            return Verdict(verdict.checked, verdict.last_seq, problem)
    return verdict
