"""The centre's view of the outbox: background work by state, dead letters and their replay (docs/STAFF.md).

Supervisors only. The states are the worker's: pending (waiting for its first try), retrying (failed, tried
again later), dead (failed PORTAL_OUTBOX_MAX_ATTEMPTS times, left for an operator) and processed. A replay is
`portal.kernel.outbox.replay`, the same as `portal outbox replay ID`, recorded in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from auth.staff_models import StaffRole
from portal.kernel.db import SessionDep
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.outbox import OutboxError, OutboxMessage, replay
from portal.kernel.web import redirect, render
from portal.staff.deps import StaffViewer, staff_roles

router = APIRouter(prefix="/staff")
Supervisor = Annotated[StaffViewer, Depends(staff_roles(StaffRole.SUPERVISOR))]

PAGE_SIZE = 50
STATES: dict[str, str] = {
    "open": N_("Not processed yet (pending, retrying, dead)"),
    "pending": N_("Pending"),
    "retrying": N_("Retrying"),
    "dead": N_("Dead letter"),
    "processed": N_("Processed"),
}
# Payload keys that say where a message goes or what it is about, shown as its target (never the pushed data,
# which can hold personal data, nor a national report's document).
TARGET_KEYS = (
    "agency_code",
    "type",
    "dossier_code",
    "kind",
    "dossier_id",
    "payment_id",
    "refund_id",
    "order_id",
    "report_id",
    "event",
    "id",
)


def state_of(msg: OutboxMessage) -> str:
    """pending | retrying | dead | processed."""
    if msg.processed_at is not None:
        return "processed"
    if msg.dead:
        return "dead"
    return "retrying" if msg.attempts > 0 else "pending"


def target_of(msg: OutboxMessage) -> str:
    """The message's addressee and subject from its payload, e.g. "agency_code=UBXA · type=dossier.received"."""
    payload = msg.payload or {}
    parts = [f"{key}={payload[key]}" for key in TARGET_KEYS if isinstance(payload.get(key), str | int)]
    return " · ".join(parts)


def last_error_line(msg: OutboxMessage) -> str:
    """The last line of the stored error (a traceback's last line is the exception)."""
    lines = (msg.last_error or "").strip().splitlines()
    return lines[-1][:300] if lines else ""


def _state_filter(stmt: Any, state: str) -> Any:
    processed, dead, attempts = col(OutboxMessage.processed_at), col(OutboxMessage.dead), col(OutboxMessage.attempts)
    if state == "processed":
        return stmt.where(processed.is_not(None))
    stmt = stmt.where(processed.is_(None))
    if state == "dead":
        return stmt.where(dead == True)
    if state == "pending":
        return stmt.where(dead == False, attempts == 0)
    if state == "retrying":
        return stmt.where(dead == False, attempts > 0)
    return stmt


@dataclass(frozen=True)
class OutboxPage:
    rows: list[OutboxMessage]
    page: int
    pages: int
    total: int


def counts_by_state(session: Session) -> dict[str, int]:
    """How many messages are in each state (the tabs of the page)."""
    state = case(
        (col(OutboxMessage.processed_at).is_not(None), "processed"),
        (col(OutboxMessage.dead) == True, "dead"),
        (col(OutboxMessage.attempts) > 0, "retrying"),
        else_="pending",
    )
    found = {name: int(n) for name, n in session.exec(select(state, func.count()).group_by(state)).all()}
    counts = {name: found.get(name, 0) for name in ("pending", "retrying", "dead", "processed")}
    counts["open"] = counts["pending"] + counts["retrying"] + counts["dead"]
    return counts


def find_messages(session: Session, *, state: str, topic: str | None, page: int) -> OutboxPage:
    """The messages of `state` (and `topic`), newest first, one page."""
    stmt = _state_filter(select(OutboxMessage), state)
    total_q = _state_filter(select(func.count()).select_from(OutboxMessage), state)
    if topic:
        stmt, total_q = stmt.where(OutboxMessage.topic == topic), total_q.where(OutboxMessage.topic == topic)
    total = int(session.exec(total_q).one())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = list(
        session.exec(stmt.order_by(col(OutboxMessage.id).desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))
    )
    return OutboxPage(rows=rows, page=page, pages=pages, total=total)


def _topics(session: Session) -> list[str]:
    return sorted(session.exec(select(OutboxMessage.topic).distinct()).all())


def _message_number(value: str) -> int | None:
    """A message's id from the URL: digits 0-9 only (str.isdigit() also says yes to "²", which int() refuses)
    within the column's range (PostgreSQL's integer), else None."""
    if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) < 2**31:
        return int(value)
    return None


def _page_number(value: str) -> int:
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1_000_000:
        raise Invalid(N_("The page number must be a whole number from 1."))
    return int(value)


@router.get("/outbox", name="staff_outbox")
def outbox_page(
    request: Request,
    viewer: Supervisor,
    session: SessionDep,
    state: str = "open",
    topic: str = "",
    page: str = "",
    replayed: str = "",
) -> Response:
    topics = _topics(session)
    error: tuple[str, dict[str, Any]] | None = None
    if state not in STATES:
        error, state = (N_("Unknown state “{value}”: choose one in the list."), {"value": state[:40]}), "open"
    if topic and topic not in topics:
        error, topic = (N_("No message has the topic “{value}”."), {"value": topic[:60]}), ""
    number = _page_number(page)
    found = find_messages(session, state=state, topic=topic or None, page=number)
    replayed_number = _message_number(replayed)
    replayed_msg = session.get(OutboxMessage, replayed_number) if replayed_number is not None else None
    context = {
        "viewer": viewer,
        "states": STATES,
        "state": state,
        "topic": topic,
        "topics": topics,
        "counts": counts_by_state(session),
        "found": found,
        "error": error,
        "replayed": replayed_msg,
        "state_of": state_of,
        "target_of": target_of,
        "last_error_line": last_error_line,
    }
    return render(request, "staff/outbox.html", context, status_code=422 if error else 200, block="messages")


def _message_id(value: str) -> int:
    number = _message_number(value)
    if number is None:
        raise NotFound(N_("There is no outbox message with this number."))
    return number


@router.post("/outbox/{message_id}/replay", name="staff_outbox_replay")
def replay_message(request: Request, message_id: str, viewer: Supervisor, session: SessionDep) -> Response:
    number = _message_id(message_id)
    msg = session.get(
        OutboxMessage,
        number,
        with_for_update=session.get_bind().dialect.name == "postgresql",
        populate_existing=True,
    )
    if msg is None:
        raise NotFound(N_("There is no outbox message with this number."))
    state = state_of(msg)
    if state != "dead":
        return render(
            request,
            "staff/outbox_refused.html",
            {"message": msg, "message_state": state, "states": STATES},
            status_code=409,
        )
    try:
        replay(session, number, by=viewer.name, actor_kind="staff")
    except OutboxError:  # it stopped being dead meanwhile (another supervisor replayed it)
        return render(
            request,
            "staff/outbox_refused.html",
            {"message": msg, "message_state": state_of(msg), "states": STATES},
            status_code=409,
        )
    return redirect(str(request.app.url_path_for("staff_outbox")) + f"?state=pending&replayed={number}")
