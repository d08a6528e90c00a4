"""Who is asking: the signed-in account from the session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from auth.models import Account
from portal.kernel.errors import SignInRequired


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as pages show it."""

    id: str
    full_name: str


def _lookup(request: Request) -> Account | None:
    # A short session of its own: no connection stays checked out while the request waits for the
    # thread that runs its view (with many signed-in requests in flight, that could exhaust the pool).
    account_id = request.session.get("account_id") if "session" in request.scope else None
    account = None
    if isinstance(account_id, str):
        with Session(request.app.state.engine, expire_on_commit=False) as session:
            account = session.get(Account, account_id)
            if account is not None:
                session.expunge(account)
    if account is None and account_id is not None:
        request.session.pop("account_id", None)
    # Templates get a plain snapshot: error pages render after a rollback has expired ORM objects.
    request.state.account = Viewer(id=account.id, full_name=account.full_name) if account else None
    return account


def optional_account_sync(request: Request) -> Account | None:
    """The signed-in account, for code already running on a worker thread."""
    return _lookup(request)


async def optional_account(request: Request) -> Account | None:
    """The signed-in account (a detached, read-only copy), or None without touching the database."""
    if "session" not in request.scope or not isinstance(request.session.get("account_id"), str):
        request.state.account = None
        return None
    return await run_in_threadpool(_lookup, request)


def required_account(account: Annotated[Account | None, Depends(optional_account)]) -> Account:
    """The signed-in account; anonymous visitors are sent to sign in."""
    if account is None:
        raise SignInRequired()
    return account


OptionalAccount = Annotated[Account | None, Depends(optional_account)]
CurrentAccount = Annotated[Account, Depends(required_account)]
