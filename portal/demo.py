"""Demo data for `make run`: one citizen account to try the portal with, and (development only) two staff
members of the console with known passwords and TOTP keys (docs/STAFF.md)."""

from __future__ import annotations

from sqlmodel import Session, select

from auth import staff as staff_auth
from auth.models import Account
from auth.service import create_account
from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings, get_settings

DEMO_LOGIN = "demo@dichvucong.test"
DEMO_PASSWORD = "demo-password-2026"


# Development only: the passwords and TOTP keys are published in docs/STAFF.md; never created (nor accepted at
# sign-in, auth.staff.DEMO_USERNAMES) outside development.
DEMO_STAFF = (
    # username, full name, role, agency, password, TOTP key (base32)
    ("giamsat", "Trần Văn Giám Sát", "supervisor", None, "giamsat-demo-2026", "GIAMSATDEMOKEYXXGIAMSATDEMOKEYXX"),
    ("canbo.ubxa", "Lê Thị Cán Bộ", "officer", "UBXA", "canbo-ubxa-demo-2026", "CANBOUBXADEMOKEYCANBOUBXADEMOKEY"),
)


def load_demo_staff(session: Session, settings: Settings) -> list[str]:
    """The console's demo staff, enrolled with fixed TOTP keys (development only)."""
    if settings.environment != "development":
        return ["demo staff: not created outside development"]
    lines = []
    for username, name, role, agency, password, secret in DEMO_STAFF:
        if staff_auth.find_member(session, username) is None:
            member = staff_auth.create_member(
                session, username=username, full_name=name, role=role, agency_code=agency, password=password
            )
            member.totp_secret = staff_auth.seal_secret(settings, secret)
            member.totp_confirmed_at = utcnow()
            session.add(member)
            session.flush()
        lines.append(f"demo staff (development only): {username} / {password}, TOTP key {secret}")
    return lines


def load_demo(session: Session, settings: Settings | None = None) -> list[str]:
    """Create the demo account (and the demo staff in development) once; returns lines to print."""
    if session.exec(select(Account).where(Account.email == DEMO_LOGIN)).first() is None:
        account = create_account(session=session, login=DEMO_LOGIN, full_name="Nguyễn Văn An", password=DEMO_PASSWORD)
        account.cccd = "001090012345"
        account.phone = "0912345678"
        session.add(account)
        session.flush()
    return [f"demo account: {DEMO_LOGIN} / {DEMO_PASSWORD}", *load_demo_staff(session, settings or get_settings())]
