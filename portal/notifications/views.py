"""The citizen's notifications page, and the unread count in the page header."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from auth.deps import CurrentAccount
from portal.kernel.db import SessionDep
from portal.kernel.web import ENV, is_htmx, render
from portal.notifications import service

router = APIRouter()


def header_unread_count(request: Request) -> int | None:
    """The signed-in citizen's unread notifications, for the header of every page (None: not shown).

    Called by base.html for signed-in visitors only, once per page. Pages rendered on the event loop
    (the async catalogue pages, error pages) show no count rather than block the loop on a query.
    """
    viewer = getattr(request.state, "account", None)
    if viewer is None:
        return None
    known: int | None = getattr(request.state, "unread_notifications", None)
    if known is not None:
        return known
    if _on_event_loop():
        return None
    with Session(request.app.state.engine) as session:
        count = service.unread_count(session, viewer.id)
    request.state.unread_notifications = count
    return count


ENV.globals["unread_notifications"] = header_unread_count


def _page(request: Request, session: Session, account_id: str, *, oob: bool = False) -> Response:
    unread = service.unread_count(session, account_id)
    request.state.unread_notifications = unread  # the header reuses it instead of counting again
    return render(
        request,
        "notifications/list.html",
        {"notifications": service.notifications_of(session, account_id), "unread": unread, "oob": oob},
        block="list",
    )


@router.get("/notifications", name="notifications")
def notifications(request: Request, session: SessionDep, account: CurrentAccount) -> Response:
    """The signed-in citizen's notifications, newest first."""
    return _page(request, session, account.id)


@router.post("/notifications/{notification_id}/read", name="notification_read")
def notification_read(request: Request, notification_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    """Mark one notification read: the list again for HTMX, else back to the page (POST → redirect → GET)."""
    service.mark_read(session, notification_id=notification_id, account_id=account.id)
    if is_htmx(request):
        return _page(request, session, account.id, oob=True)
    return RedirectResponse("/notifications", status_code=303)


def _on_event_loop() -> bool:
    """Whether this runs on the event loop (an async handler) rather than a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

