"""Demo data for `make run`: one citizen account to try the portal with."""

from __future__ import annotations

from sqlmodel import Session, select

from auth.models import Account
from auth.service import create_account

DEMO_LOGIN = "demo@dichvucong.test"
DEMO_PASSWORD = "demo-password-2026"


def load_demo(session: Session) -> list[str]:
    """Create the demo account once; returns lines to print."""
    if session.exec(select(Account).where(Account.email == DEMO_LOGIN)).first() is None:
        account = create_account(session=session, login=DEMO_LOGIN, full_name="Nguyễn Văn An", password=DEMO_PASSWORD)
        account.cccd = "001090012345"
        account.phone = "0912345678"
        session.add(account)
        session.flush()
    return [f"demo account: {DEMO_LOGIN} / {DEMO_PASSWORD}"]
