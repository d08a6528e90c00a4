"""Feedback and complaints: filing, the tracking-code lookup, the public list, and the agency's answer (the
console's service API). Services flush, never commit. docs/FEEDBACK.md."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from auth.models import Account
from auth.service import EMAIL_RE
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier
from portal.feedback import codes, notify
from portal.feedback.attachments import Attachment
from portal.feedback.models import Feedback, FeedbackAbout, FeedbackKind, FeedbackStatus
from portal.kernel.audit import record
from portal.kernel.calendar import add_working_days, local_date
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from portal.notifications.preferences import account_phone, contact_email, national_mobile

__all__ = [
    "AnswerRefused",
    "Filing",
    "FilingRefused",
    "Page",
    "PublicItem",
    "answer",
    "attachment",
    "by_code",
    "check_filing",
    "file_item",
    "get",
    "is_overdue",
    "list_items",
    "public_items",
]

TITLE_MIN, TITLE_MAX = 5, 200
BODY_MIN, BODY_MAX = 20, 5000
NAME_MIN, NAME_MAX = 2, 120
ANSWER_MIN, ANSWER_MAX = 10, 10000
PER_PAGE = 20
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Message = tuple[str, dict[str, Any]]  # a msgid and its parameters

MSG_NO_DOSSIER = N_(
    "No dossier with this code was filed with the email or mobile number you gave. Check the code on your "
    "receipt and give the contact of the dossier's account."
)
MSG_NOT_YOURS = N_("Choose one of your dossiers.")


@dataclass(frozen=True)
class Filing:
    """What the filer typed, as typed (shown again on an error)."""

    kind: str = ""
    about: str = ""
    procedure_code: str = ""
    dossier_code: str = ""
    agency_code: str = ""
    title: str = ""
    body: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    public_consent: bool = False


class FilingRefused(Invalid):
    """The form has mistakes: `errors` maps each field to its message (msgid, params)."""

    def __init__(self, errors: dict[str, Message]) -> None:
        first = next(iter(errors.values()))
        super().__init__(first[0], first[1])
        self.errors = errors


class AnswerRefused(FilingRefused):
    """The answer form has mistakes (`errors`: text, public_title, public_body)."""


@dataclass(frozen=True)
class Page:
    """One page of a list: `items`, the page number (from 1), the number of pages and of items in all."""

    items: Sequence[Any]
    page: int
    pages: int
    total: int
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class PublicItem:
    """An answered item as the public list shows it: only what the answering officer published and the answer."""

    kind: str
    agency_code: str
    procedure_code: str | None
    title: str
    body: str
    answer: str
    filed_on: date
    answered_at: datetime


@dataclass
class _Route:
    agency_code: str = ""
    procedure_code: str | None = None
    dossier: Dossier | None = None
    errors: dict[str, Message] = field(default_factory=dict)


def _length(errors: dict[str, Message], name: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        errors[name] = (
            N_("Write between {low} and {high} characters (you wrote {n})."),
            {"low": low, "high": high, "n": len(value)},
        )


def _dossier_of_contact(session: Session, code: str, email: str | None, phone: str | None) -> Dossier | None:
    """The dossier `code` when its applicant's account has this email or mobile number; None otherwise (whether
    the code exists is not told apart: the message is the same)."""
    row = session.exec(
        select(Dossier, Account)
        .join(Account, col(Account.id) == col(Dossier.applicant_id))
        .where(col(Dossier.code) == code)
    ).first()
    if row is None:
        return None
    dossier, account = row
    own_email = (contact_email(account) or "").lower()
    if email and own_email and email == own_email:
        return dossier
    if phone and phone == account_phone(account):
        return dossier
    return None


def _route(session: Session, filing: Filing, account: Account | None, email: str | None, phone: str | None) -> _Route:
    """Which agency must answer, from what the item is about."""
    route = _Route()
    if filing.about == FeedbackAbout.PROCEDURE:
        code = filing.procedure_code.strip()
        procedure = session.get(Procedure, code) if code and len(code) <= 20 else None
        if procedure is None:
            route.errors["procedure_code"] = (
                N_("No procedure has the code {code}. The code is shown on the procedure's page."),
                {"code": code[:20]},
            )
        else:
            route.agency_code, route.procedure_code = procedure.agency_code, procedure.code
    elif filing.about == FeedbackAbout.AGENCY:
        agency = (
            session.get(Agency, filing.agency_code) if filing.agency_code and len(filing.agency_code) <= 10 else None
        )
        if agency is None:
            route.errors["agency_code"] = (N_("Choose the agency."), {})
        else:
            route.agency_code = agency.code
    elif filing.about == FeedbackAbout.DOSSIER:
        code = filing.dossier_code.strip().upper()[:40]
        dossier: Dossier | None = None
        if not code:
            route.errors["dossier_code"] = (MSG_NOT_YOURS, {}) if account else (N_("Give the dossier's code."), {})
            return route
        if account is not None:
            dossier = session.exec(
                select(Dossier).where(col(Dossier.code) == code, col(Dossier.applicant_id) == account.id)
            ).first()
            if dossier is None:
                route.errors["dossier_code"] = (MSG_NOT_YOURS, {})
        elif email or phone:
            dossier = _dossier_of_contact(session, code, email, phone)
            if dossier is None:
                route.errors["dossier_code"] = (MSG_NO_DOSSIER, {})
        if dossier is not None:
            route.dossier, route.agency_code, route.procedure_code = (
                dossier,
                dossier.agency_code,
                dossier.procedure_code,
            )
    return route


def _check(filing: Filing) -> tuple[dict[str, Message], str | None, str | None]:
    """Field errors of what does not need the database; the email (lower case) and mobile number (national form)."""
    errors: dict[str, Message] = {}
    if filing.kind not in {k.value for k in FeedbackKind}:
        errors["kind"] = (N_("Choose whether this is feedback, a suggestion or a complaint."), {})
    if filing.about not in {a.value for a in FeedbackAbout}:
        errors["about"] = (N_("Choose what it is about: a procedure, a dossier or an agency."), {})
    _length(errors, "title", filing.title.strip(), TITLE_MIN, TITLE_MAX)
    _length(errors, "body", filing.body.strip(), BODY_MIN, BODY_MAX)
    _length(errors, "name", filing.name.strip(), NAME_MIN, NAME_MAX)
    email = filing.email.strip().lower() or None
    phone_typed = filing.phone.strip() or None
    phone = national_mobile(phone_typed)
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        errors["email"] = (N_("Enter an email address such as ten@example.vn."), {})
        email = None
    if phone_typed and phone is None:
        errors["phone"] = (N_("Enter a Vietnamese mobile number such as 0912 345 678."), {})
    if not filing.email.strip() and not phone_typed:
        errors["email"] = (N_("Give an email address or a mobile number, so that the answer reaches you."), {})
    return errors, email, phone


def _new_code(session: Session, day: date) -> str:
    for _ in range(8):
        code = codes.new_code(day)
        if session.exec(select(Feedback.id).where(col(Feedback.code) == code)).first() is None:
            return code
    raise RuntimeError("no free tracking code after 8 tries")  # 31^6 codes a month: never in practice


def check_filing(session: Session, filing: Filing, *, account: Account | None) -> tuple[str | None, str | None, _Route]:
    """Every mistake of the form at once (FilingRefused, 422); else the email, the mobile number and the route."""
    errors, email, phone = _check(filing)
    route = _route(session, filing, account, email, phone) if "about" not in errors else _Route()
    errors = {**errors, **route.errors}
    if errors:
        raise FilingRefused(errors)
    return email, phone, route


RESEND_WINDOW = timedelta(minutes=10)


def _just_filed(
    session: Session, filing: Filing, route: _Route, *, email: str | None, phone: str | None, now: datetime
) -> Feedback | None:
    """The item filed moments ago from the same contact with the same kind, subject, title and body, if any."""
    conditions: list[Any] = [
        col(Feedback.filed_at) >= now - RESEND_WINDOW,
        col(Feedback.kind) == filing.kind,
        col(Feedback.about) == filing.about,
        col(Feedback.agency_code) == route.agency_code,
        col(Feedback.title) == filing.title.strip(),
        col(Feedback.body) == filing.body.strip(),
        col(Feedback.email).is_(None) if email is None else col(Feedback.email) == email,
        col(Feedback.phone).is_(None) if phone is None else col(Feedback.phone) == phone,
    ]
    return session.exec(select(Feedback).where(*conditions).order_by(col(Feedback.filed_at))).first()


def file_item(
    session: Session,
    filing: Filing,
    *,
    account: Account | None,
    settings: Settings,
    storage: Storage,
    attachment: Attachment | None = None,
    language: str = "vi",
    now: datetime | None = None,
) -> Feedback:
    """File one item and queue the message with its tracking code to the filer; FilingRefused (422) with every
    mistake of the form, nothing stored. The same item sent again within RESEND_WINDOW (same contact, kind,
    subject, title and body) is not filed twice: the first one is returned."""
    email, phone, route = check_filing(session, filing, account=account)
    now = now or utcnow()
    same = _just_filed(session, filing, route, email=email, phone=phone, now=now)
    if same is not None:
        return same  # the form sent again (a double click, a reload): the filer keeps one tracking code
    today = local_date(now)
    item = Feedback(
        code=_new_code(session, today),
        kind=filing.kind,
        about=filing.about,
        procedure_code=route.procedure_code,
        dossier_id=route.dossier.id if route.dossier else None,
        dossier_code=route.dossier.code if route.dossier else None,
        agency_code=route.agency_code,
        title=filing.title.strip(),
        body=filing.body.strip(),
        name=filing.name.strip(),
        email=email,
        phone=phone,
        account_id=account.id if account else None,
        language=language if language in ("vi", "en") else "vi",
        public_consent=filing.public_consent,
        filed_at=now,
        due_on=add_working_days(today, settings.feedback_answer_days),
    )
    if attachment is not None:
        ready = attachment.ready
        item.attachment_key = storage.put(ready.pdf, prefix="feedback", suffix=".pdf")
        item.attachment_name = attachment.filename
        item.attachment_type = "application/pdf"
        item.attachment_size = ready.size
        item.attachment_sha256 = ready.sha256
    session.add(item)
    session.flush()
    record(
        session,
        "feedback.filed",
        account_id=item.account_id,
        dossier_id=item.dossier_id,
        agency_code=item.agency_code,
        code=item.code,
        feedback_kind=item.kind,
    )
    notify.queue(session, item, notify.FILED)
    return item


def get(session: Session, id: str) -> Feedback:
    """One item by its id; NotFound (404) otherwise."""
    item = session.get(Feedback, id) if id and len(id) <= 32 else None
    if item is None:
        raise NotFound(N_("There is no such feedback item."))
    return item


def by_code(session: Session, code: str) -> Feedback | None:
    """The item of a tracking code as typed (normalized first), or None."""
    normal = codes.normalize(code)
    if normal is None:
        return None
    return session.exec(select(Feedback).where(col(Feedback.code) == normal)).first()


def attachment(storage: Storage, item: Feedback) -> tuple[str, bytes] | None:
    """The item's attachment (its name and the PDF stored), or None when it has none: for the console."""
    if not item.attachment_key:
        return None
    return item.attachment_name or "attachment.pdf", storage.get(item.attachment_key)


def is_overdue(item: Feedback, today: date) -> bool:
    """Not answered and its last day to answer (`due_on`, a local date) has passed."""
    return item.status == FeedbackStatus.OPEN and today > item.due_on


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def list_items(
    session: Session,
    *,
    agency_codes: set[str] | None,
    status: str | None = None,
    overdue: bool | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    today: date | None = None,
) -> Page:
    """Items for the console, oldest due first: of `agency_codes` (None: every agency, the supervisor's scope;
    an empty set: none), by status, overdue or not (judged on `today`, local), and a search of the tracking
    code, dossier code or title (`q`)."""
    today = today or local_date(utcnow())
    conditions: list[Any] = []
    if agency_codes is not None:
        if not agency_codes:
            return Page(items=(), page=1, pages=1, total=0, per_page=per_page)
        conditions.append(col(Feedback.agency_code).in_(sorted(agency_codes)))
    if status:
        conditions.append(col(Feedback.status) == status)
    late = (col(Feedback.status) == FeedbackStatus.OPEN) & (col(Feedback.due_on) < today)
    if overdue is True:
        conditions.append(late)
    elif overdue is False:
        conditions.append(~late)
    text = (q or "").strip()[:100]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                col(Feedback.code) == text.upper(),
                col(Feedback.dossier_code) == text.upper(),
                col(Feedback.title).ilike(pattern, escape="\\"),
            )
        )
    total = int(session.exec(select(func.count()).select_from(Feedback).where(*conditions)).one())
    pages = _pages(total, per_page)
    page = min(max(1, page), pages)
    items = session.exec(
        select(Feedback)
        .where(*conditions)
        .order_by(col(Feedback.status).desc(), col(Feedback.due_on), col(Feedback.filed_at), col(Feedback.id))
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(items=tuple(items), page=page, pages=pages, total=total, per_page=per_page)


def answer(
    session: Session,
    item: Feedback,
    *,
    text: str,
    public_title: str | None,
    public_body: str | None,
    staff_name: str,
    staff_id: str | None,
    now: datetime | None = None,
) -> Feedback:
    """Answer the item once (Conflict 409 when it was answered already, by anyone) and tell the filer. When the
    filer agreed to publication, the published version (title and body without personal data) is required."""
    # Control characters (a pasted NUL, which PostgreSQL cannot store) are dropped; tabs and line breaks stay.
    text, title, body = (_CONTROLS.sub("", value or "").strip() for value in (text, public_title, public_body))
    errors: dict[str, Message] = {}
    _length(errors, "text", text, ANSWER_MIN, ANSWER_MAX)
    if item.public_consent:
        _length(errors, "public_title", title, TITLE_MIN, TITLE_MAX)
        _length(errors, "public_body", body, BODY_MIN, BODY_MAX)
    if item.status != FeedbackStatus.OPEN:
        raise Conflict(N_("This item was answered already; an answer cannot be changed."))
    if errors:
        raise AnswerRefused(errors)
    now = now or utcnow()
    # One answer even when two officers send theirs at once: the row changes only while it is still open.
    changed = session.execute(
        update(Feedback)
        .where(col(Feedback.id) == item.id, col(Feedback.status) == FeedbackStatus.OPEN)
        .values(
            status=FeedbackStatus.ANSWERED,
            answer=text,
            answered_at=now,
            answered_by=staff_name[:120],
            answered_by_staff_id=staff_id,
            public_title=title if item.public_consent else None,
            public_body=body if item.public_consent else None,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(item)
        raise Conflict(N_("This item was answered already; an answer cannot be changed."))
    session.refresh(item)
    record(
        session,
        "feedback.answered",
        actor_kind="staff",
        actor=staff_name,
        purpose="feedback",
        agency_code=item.agency_code,
        dossier_id=item.dossier_id,
        code=item.code,
        staff_id=staff_id,
    )
    notify.queue(session, item, notify.ANSWERED)
    return item


def public_items(
    session: Session,
    *,
    agency: str | None = None,
    procedure: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """Answered items whose filer agreed to publication, latest answer first: the published title and body and the
    answer only (never the filer's name, contact, dossier or the original text)."""
    conditions: list[Any] = [
        col(Feedback.status) == FeedbackStatus.ANSWERED,
        col(Feedback.public_consent).is_(True),
        col(Feedback.public_title).is_not(None),
    ]
    if agency:
        conditions.append(col(Feedback.agency_code) == agency)
    if procedure:
        conditions.append(col(Feedback.procedure_code) == procedure)
    total = int(session.exec(select(func.count()).select_from(Feedback).where(*conditions)).one())
    pages = _pages(total, per_page)
    page = min(max(1, page), pages)
    rows = session.exec(
        select(Feedback)
        .where(*conditions)
        .order_by(col(Feedback.answered_at).desc(), col(Feedback.id))
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    items = tuple(
        PublicItem(
            kind=row.kind,
            agency_code=row.agency_code,
            procedure_code=row.procedure_code,
            title=row.public_title or "",
            body=row.public_body or "",
            answer=row.answer or "",
            filed_on=local_date(row.filed_at),
            answered_at=row.answered_at or row.filed_at,
        )
        for row in rows
    )
    return Page(items=items, page=page, pages=pages, total=total, per_page=per_page)


def agency_names(session: Session) -> dict[str, tuple[str, str]]:
    """Every agency's names (vi, en) by code: for the filing form's select and the lists."""
    return {a.code: (a.name_vi, a.name_en) for a in session.exec(select(Agency).order_by(col(Agency.name_vi))).all()}


def procedure_names(session: Session, codes: set[str]) -> dict[str, tuple[str, str]]:
    """The names (vi, en) of these procedures by code."""
    if not codes:
        return {}
    rows = session.exec(
        select(Procedure.code, Procedure.name_vi, Procedure.name_en).where(col(Procedure.code).in_(sorted(codes)))
    )
    return {code: (vi, en) for code, vi, en in rows.all()}


def own_dossiers(session: Session, account: Account) -> list[tuple[str, str, str]]:
    """The account's filed dossiers (code, procedure name vi, en), latest first: what a signed-in filer chooses."""
    rows = session.exec(
        select(Dossier.code, Procedure.name_vi, Procedure.name_en)
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(col(Dossier.applicant_id) == account.id, col(Dossier.code).is_not(None))
        .order_by(col(Dossier.submitted_at).desc())
        .limit(200)
    ).all()
    return [(str(code), vi, en) for code, vi, en in rows]
