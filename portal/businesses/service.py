"""Business use cases: register a business, manage its representatives, act for it. Flush, never commit."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.requests import Request

from auth import deps
from auth.deps import BusinessRef
from auth.models import Account, UserSession
from auth.service import normalise_login
from portal.businesses.models import Business, Representative
from portal.kernel.audit import record
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.i18n import N_

LEGAL_REPRESENTATIVE = "legal_representative"
REPRESENTATIVE = "representative"
MAX_NAME = 200
MAX_ADDRESS = 300
# Weights of the first nine digits in the check digit of a tax code (mã số thuế).
WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
BRANCH_FORM = re.compile(r"^(\d{10})-(\d{3})$")


ONLY_DIGITS = N_("A tax code has only digits: 10, or 13 for a branch (0101234567-001).")
WRONG_LENGTH = N_("A tax code has 10 digits, or 13 for a branch (0101234567-001).")
WRONG_CHECK_DIGIT = N_("This tax code is not valid: check the digits you typed.")
WRONG_BRANCH = N_("The branch number (the last 3 digits) goes from 001 to 999.")
NOT_FOUND = N_("There is no business with this reference among yours.")


def check_digit(first_nine: str) -> int | None:
    """The 10th digit the first nine call for, or None when no digit fits (such codes are never issued)."""
    digit = 10 - sum(w * int(d) for w, d in zip(WEIGHTS, first_nine, strict=True)) % 11
    return None if digit == 10 else digit


def check_tax_code(value: str) -> str:
    """The tax code as stored (digits only, 10 or 13), or Invalid saying what is wrong."""
    code = "".join(value.split())
    branch = BRANCH_FORM.match(code)
    if branch:
        code = branch.group(1) + branch.group(2)
    if not code.isascii() or not code.isdigit():
        raise Invalid(ONLY_DIGITS)
    if len(code) not in (10, 13):
        raise Invalid(WRONG_LENGTH)
    if check_digit(code[:9]) != int(code[9]):
        raise Invalid(WRONG_CHECK_DIGIT)
    if len(code) == 13 and code[10:] == "000":
        raise Invalid(WRONG_BRANCH)
    return code


def format_tax_code(code: str) -> str:
    """How people write it: 0101234567, or 0101234567-001 for a branch."""
    return f"{code[:10]}-{code[10:]}" if len(code) == 13 else code


def _clean(value: str) -> str:
    return " ".join(value.split())


def check_registration(*, tax_code: str, name: str, address: str) -> dict[str, str]:
    """Validate the registration form; returns field -> msgid (empty when everything is right)."""
    errors: dict[str, str] = {}
    if not tax_code.strip():
        errors["tax_code"] = N_("Enter the tax code of the business.")
    else:
        try:
            check_tax_code(tax_code)
        except Invalid as exc:
            errors["tax_code"] = exc.msgid
    name = _clean(name)
    if not name:
        errors["name"] = N_("Enter the name of the business.")
    elif len(name) > MAX_NAME:
        errors["name"] = N_("The name of the business is too long (at most 200 characters).")
    address = _clean(address)
    if not address:
        errors["address"] = N_("Enter the address of the head office.")
    elif len(address) > MAX_ADDRESS:
        errors["address"] = N_("The address is too long (at most 300 characters).")
    return errors


def representative_of(session: Session, account_id: str, business_id: str) -> bool:
    """Whether the account may act for the business."""
    return session.get(Representative, (business_id, account_id)) is not None


def businesses_of(session: Session, account_id: str) -> list[tuple[Business, Representative]]:
    """The businesses an account represents, by name, with its role in each."""
    rows = session.exec(
        select(Business, Representative)
        .join(Representative, col(Representative.business_id) == col(Business.id))
        .where(Representative.account_id == account_id)
        .order_by(col(Business.name))
    ).all()
    return [(b, r) for b, r in rows]


def representatives(session: Session, business_id: str) -> list[tuple[Representative, Account]]:
    """Who represents a business, legal representative first, then in the order they were added."""
    rows = session.exec(
        select(Representative, Account)
        .join(Account, col(Account.id) == col(Representative.account_id))
        .where(Representative.business_id == business_id)
        .order_by(col(Representative.role) != LEGAL_REPRESENTATIVE, col(Representative.added_at))
    ).all()
    return [(r, a) for r, a in rows]


def business_for(session: Session, business_id: str, account_id: str) -> Business:
    """The business if the account represents it; anyone else gets the same 404 as for a missing one."""
    business = session.get(Business, business_id)
    if business is None or not representative_of(session, account_id, business.id):
        raise NotFound(NOT_FOUND)
    return business


def register_business(
    session: Session, *, by: Account, tax_code: str, name: str, address: str, request: Request | None = None
) -> Business:
    """Register a business under a tax code nobody has registered yet; `by` becomes its legal representative."""
    errors = check_registration(tax_code=tax_code, name=name, address=address)
    if errors:
        raise Invalid(next(iter(errors.values())))
    code = check_tax_code(tax_code)
    taken = N_("This tax code is already registered. Ask one of its representatives to add you.")
    if session.exec(select(Business.id).where(Business.tax_code == code)).first() is not None:
        record(session, "business.registered", request=request, outcome="refused", account_id=by.id, tax_code=code)
        raise Conflict(taken)
    business = Business(tax_code=code, name=_clean(name), address=_clean(address), created_by=by.id)
    try:
        # Two people registering the same code at once: the unique index decides, the loser gets the 409.
        with session.begin_nested():
            session.add(business)
            session.flush()
    except IntegrityError:
        raise Conflict(taken) from None
    session.add(Representative(business_id=business.id, account_id=by.id, role=LEGAL_REPRESENTATIVE, added_by=by.id))
    record(session, "business.registered", request=request, account_id=by.id, business_id=business.id, tax_code=code)
    session.flush()
    return business


def add_representative(
    session: Session, *, business: Business, by: Account, login: str, request: Request | None = None
) -> Representative:
    """Let another account act for the business; only a representative may do it. Adding twice changes nothing."""
    if not representative_of(session, by.id, business.id):
        raise NotFound(NOT_FOUND)
    email, phone = normalise_login(login)
    if not (email or phone):
        raise Invalid(N_("Enter a valid email address or Vietnamese mobile number."))
    who = select(Account).where(Account.email == email) if email else select(Account).where(Account.phone == phone)
    account = session.exec(who).first()
    if account is None:
        raise Invalid(N_("No account uses this email or phone number. The person must first create an account."))
    existing = session.get(Representative, (business.id, account.id))
    if existing is not None:
        return existing
    row = Representative(business_id=business.id, account_id=account.id, role=REPRESENTATIVE, added_by=by.id)
    session.add(row)
    record(
        session,
        "business.representative_added",
        request=request,
        account_id=by.id,
        business_id=business.id,
        representative_id=account.id,
    )
    session.flush()
    return row


def remove_representative(
    session: Session, *, business: Business, by: Account, account_id: str, request: Request | None = None
) -> None:
    """Withdraw an account's right to act for the business: itself, or anyone when `by` is the legal representative."""
    mine = session.get(Representative, (business.id, by.id))
    if mine is None:
        raise NotFound(NOT_FOUND)
    target = session.get(Representative, (business.id, account_id))
    if target is None:
        raise NotFound(N_("This person does not represent the business."))
    if account_id != by.id and mine.role != LEGAL_REPRESENTATIVE:
        raise Conflict(N_("Only the legal representative can remove another representative."))
    if len(representatives(session, business.id)) <= 1:
        raise Conflict(N_("A business keeps at least one representative. Add another one first."))
    session.delete(target)
    record(
        session,
        "business.representative_removed",
        request=request,
        account_id=by.id,
        business_id=business.id,
        representative_id=account_id,
    )
    session.flush()


def set_acting_as(
    session: Session, *, row: UserSession, business_id: str | None, request: Request | None = None
) -> Business | None:
    """Make this browser session act for a business the account represents (None: for oneself)."""
    business = business_for(session, business_id, row.account_id) if business_id else None
    if row.acting_as != (business.id if business else None):
        row.acting_as = business.id if business else None
        session.add(row)
        record(session, "session.acting_as", request=request, account_id=row.account_id, business_id=row.acting_as)
        session.flush()
    return business


@deps.represented_by.provide
def represented_by(session: Session, account_id: str) -> tuple[BusinessRef, ...]:
    """The businesses an account represents, by name: what "acting as" offers on every page."""
    return tuple(
        BusinessRef(id=b.id, name=b.name, tax_code=b.tax_code)
        for b in session.exec(
            select(Business)
            .join(Representative, col(Representative.business_id) == col(Business.id))
            .where(Representative.account_id == account_id)
            .order_by(col(Business.name))
        )
    )
