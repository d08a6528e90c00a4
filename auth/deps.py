"""Who is asking: the signed-in account, from the server-side session named by the cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from auth.models import Account
from auth.sessions import COOKIE_KEY, current_session_row
from portal.kernel.deps import app_engine
from portal.kernel.errors import SignInRequired
from portal.kernel.hooks import Provided
from portal.kernel.uow import unit_of_work


@dataclass(frozen=True)
class BusinessRef:
    """A business the account may act for (as its legal or another representative)."""

    id: str
    name: str
    tax_code: str


def _represents_nothing(session: Session, account_id: str) -> tuple[BusinessRef, ...]:
    return ()


# The businesses an account represents, by account id: provided by `portal.businesses`, which owns them
# (auth only remembers, on the sign-in session, which of them the account is acting for).
represented_by: Provided[[Session, str], tuple[BusinessRef, ...]] = Provided("represented_by", _represents_nothing)


def _nothing_unread(session: Session, account_id: str) -> int:
    return 0


# How many unread notifications the account has, for the page header: provided by `portal.notifications`.
# Counted here, with the viewer, so that no template has to query the database.
unread_count_of: Provided[[Session, str], int] = Provided("unread_count_of", _nothing_unread)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in and as whom they act, as pages and access checks see it."""

    id: str
    full_name: str
    level: int
    method: str
    session_id: str
    acting_as: BusinessRef | None = None
    businesses: tuple[BusinessRef, ...] = ()
    unread_notifications: int = 0

    @property
    def acting_business_id(self) -> str | None:
        return self.acting_as.id if self.acting_as else None


def _lookup(request: Request) -> Account | None:
    # A short session of its own: no connection stays checked out while the request waits for the
    # thread that runs its view (with many signed-in requests in flight, that could exhaust the pool).
    account = None
    viewer = None
    with unit_of_work(app_engine(request.app)) as session:
        row = current_session_row(request, session)
        if row is not None:
            account = session.get(Account, row.account_id)
        if row is not None and account is not None:
            businesses = represented_by(session, account.id)
            acting = next((b for b in businesses if b.id == row.acting_as), None)
            viewer = Viewer(
                id=account.id,
                full_name=account.full_name,
                level=row.assurance_level,
                method=row.method,
                session_id=row.id,
                acting_as=acting,
                businesses=businesses,
                unread_notifications=unread_count_of(session, account.id),
            )
            session.expunge(account)
        else:
            account = None
    if account is None and "session" in request.scope:
        request.session.pop(COOKIE_KEY, None)
    # Templates get a plain snapshot: error pages render after a rollback has expired ORM objects.
    request.state.account = viewer
    return account


def optional_account_sync(request: Request) -> Account | None:
    """The signed-in account, for code already running on a worker thread."""
    return _lookup(request)


async def optional_account(request: Request) -> Account | None:
    """The signed-in account (a detached, read-only copy), or None without touching the database."""
    if "session" not in request.scope or not isinstance(request.session.get(COOKIE_KEY), str):
        request.state.account = None
        return None
    return await run_in_threadpool(_lookup, request)


def required_account(account: Annotated[Account | None, Depends(optional_account)]) -> Account:
    """The signed-in account; anonymous visitors are sent to sign in."""
    if account is None:
        raise SignInRequired()
    return account


def current_viewer(request: Request, account: Annotated[Account, Depends(required_account)]) -> Viewer:
    """The signed-in viewer (account, assurance level, acting-as)."""
    viewer: Viewer = request.state.account
    return viewer


OptionalAccount = Annotated[Account | None, Depends(optional_account)]
CurrentAccount = Annotated[Account, Depends(required_account)]
CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
