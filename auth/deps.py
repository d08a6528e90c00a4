"""Who is asking: the signed-in account from the session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from auth.models import Account
from portal.kernel.db import SessionDep
from portal.kernel.errors import SignInRequired


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as pages show it."""

    id: str
    full_name: str


def _lookup(request: Request, session: Session) -> Account | None:
    account_id = request.session.get("account_id") if "session" in request.scope else None
    account = session.get(Account, account_id) if isinstance(account_id, str) else None
    if account is None and account_id is not None:
        request.session.pop("account_id", None)
    # Templates get a plain snapshot: error pages render after a rollback has expired ORM objects.
    request.state.account = Viewer(id=account.id, full_name=account.full_name) if account else None
    return account


def optional_account_sync(request: Request, session: Session) -> Account | None:
    """The signed-in account, for code already running on a worker thread."""
    return _lookup(request, session)


async def optional_account(request: Request, session: SessionDep) -> Account | None:
    """The signed-in account, or None (anonymous requests never touch the database here)."""
    if "session" not in request.scope or not isinstance(request.session.get("account_id"), str):
        request.state.account = None
        return None
    return await run_in_threadpool(_lookup, request, session)


def required_account(account: Annotated[Account | None, Depends(optional_account)]) -> Account:
    """The signed-in account; anonymous visitors are sent to sign in."""
    if account is None:
        raise SignInRequired()
    return account


OptionalAccount = Annotated[Account | None, Depends(optional_account)]
CurrentAccount = Annotated[Account, Depends(required_account)]
