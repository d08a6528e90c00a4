"""Server-side sessions: the cookie carries a random token, the database says who it is and how sure we are.

Signing in replaces the whole cookie session (new token, new CSRF token) so a planted cookie cannot
be reused; signing out revokes the row, so a copied cookie stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col
from starlette.requests import Request

from auth.models import Account, UserSession
from portal.kernel.clock import utcnow
from portal.kernel.deps import app_settings

COOKIE_KEY = "sid"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    request: Request,
    session: Session,
    account: Account,
    *,
    method: str,
    level: int,
    acr: str | None = None,
    id_token: str | None = None,
) -> UserSession:
    """Sign `account` in on this browser: revoke the previous session, issue a new token."""
    end_session(request, session)
    settings = app_settings(request.app)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        id=token_hash(token),
        account_id=account.id,
        method=method,
        assurance_level=level,
        acr=acr,
        id_token=id_token,
        created_at=now,
        expires_at=now + timedelta(hours=settings.session_hours),
    )
    session.add(row)
    keep = {k: v for k, v in request.session.items() if k == "lang"}
    request.session.clear()
    request.session.update(keep)
    request.session[COOKIE_KEY] = token
    request.session["csrf"] = secrets.token_urlsafe(32)
    return row


def current_session_row(request: Request, session: Session) -> UserSession | None:
    """The live session row of this browser, if any."""
    token = request.session.get(COOKIE_KEY) if "session" in request.scope else None
    if not isinstance(token, str):
        return None
    row = session.get(UserSession, token_hash(token))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row


def end_session(request: Request, session: Session) -> UserSession | None:
    """Revoke this browser's session (if any) and clear its cookie; returns the revoked row."""
    row = current_session_row(request, session)
    if row is not None:
        row.revoked_at = utcnow()
        session.add(row)
    request.session.pop(COOKIE_KEY, None)
    request.session.pop("csrf", None)
    return row


def revoke_all(session: Session, account_id: str) -> None:
    """Sign an account out everywhere (after a password change, for example)."""
    session.execute(
        update(UserSession)
        .where(col(UserSession.account_id) == account_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
