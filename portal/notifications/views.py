"""The citizen's notifications page, and the unread count in the page header."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from auth.deps import CurrentAccount, unread_count_of
from portal.kernel.db import SessionDep
from portal.kernel.web import ENV, is_htmx, redirect, render
from portal.notifications import deliveries, service

router = APIRouter()


# The viewer lookup counts the unread notifications of whoever is signed in (auth asks this package).
unread_count_of.provide(service.unread_count)


def header_unread_count(request: Request) -> int | None:
    """The signed-in citizen's unread notifications, for the header of every page (None: not shown).

    Counted before rendering, by the viewer lookup (`auth.deps`): base.html only reads it.
    """
    viewer = getattr(request.state, "account", None)
    return None if viewer is None else int(viewer.unread_notifications)


ENV.globals["unread_notifications"] = header_unread_count


def _page(request: Request, session: Session, account_id: str, *, oob: bool = False) -> Response:
    unread = service.unread_count(session, account_id)
    rows = service.notifications_of(session, account_id)
    context = {
        "notifications": rows,
        "deliveries": deliveries.deliveries_by_notification(session, [n.id for n in rows]),
        "status_labels": deliveries.STATUS_LABELS,
        "channel_labels": deliveries.CHANNEL_LABELS,
        "failure_reason": deliveries.failure_reason,
        "unread": unread,
        "oob": oob,
    }
    return render(request, "notifications/list.html", context, block="list")


@router.get("/notifications", name="notifications")
def notifications(request: Request, session: SessionDep, account: CurrentAccount) -> Response:
    """The signed-in citizen's notifications, newest first, each with how far each channel got."""
    return _page(request, session, account.id)


@router.post("/notifications/{notification_id}/read", name="notification_read")
def notification_read(request: Request, notification_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    """Mark one notification read: the list again for HTMX, else back to the page (POST → redirect → GET)."""
    service.mark_read(session, notification_id=notification_id, account_id=account.id)
    if is_htmx(request):
        return _page(request, session, account.id, oob=True)
    return redirect("/notifications")
