"""What the dossier pages read: lists, one dossier with its form, its timeline, its fee, the public lookup.

Reads only: nothing here writes. Views call one of these and render what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from auth.models import Account
from forms.definition import FormDefinition
from payments import service as payments
from payments.fees import FeeBreakdown
from payments.gateways.base import PaymentGateway
from payments.models import Payment, PaymentStatus
from payments.queries import agency_receipts, refunds_of
from portal.businesses.models import Business
from portal.catalog.models import Agency, Procedure
from portal.dossiers import billing, linked_pages, parcel_reads, service, store_links
from portal.dossiers.models import (
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierFile,
    DossierStatus,
    submitted_only,
)
from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.uow import unit_of_work

T = TypeVar("T")

# A fee can be paid while the dossier is a draft or still open at the agency.
PAYABLE = (
    DossierStatus.DRAFT,
    DossierStatus.SUBMITTED,
    DossierStatus.RECEIVED,
    DossierStatus.IN_PROCESS,
    DossierStatus.SUPPLEMENT_REQUESTED,
    DossierStatus.RESULT_CHECK,
    DossierStatus.RESULT_READY,
)


def procedure(session: Session, code: str) -> Procedure:
    """A procedure by code (inactive ones too: a dossier keeps its procedure); 404 when there is none."""
    proc = session.get(Procedure, code)
    if proc is None:
        raise NotFound(N_("There is no procedure with this code."))
    return proc


def dossier_with_form(
    session: Session, dossier_id: str, account: Account, *, lock: bool = False
) -> tuple[Dossier, Procedure, FormDefinition]:
    """One of the account's dossiers with its procedure and the form version it was started on."""
    dossier = service.own_dossier(session, dossier_id, account, lock=lock)
    proc = procedure(session, dossier.procedure_code)
    return dossier, proc, service.get_definition(session, dossier.form_id, dossier.form_version)


def dossiers_of(session: Session, account_id: str, business_id: str | None) -> list[tuple[Dossier, Procedure]]:
    """The dossiers of whom the browser acts for (the account's personal ones, or a business's), latest first."""
    rows = session.exec(
        select(Dossier, Procedure)
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(service.acting_identity(account_id, business_id), col(Dossier.parent_id).is_(None))
        .order_by(col(Dossier.updated_at).desc())
        .limit(200)
    ).all()
    return list(rows)


def dossier_file(session: Session, dossier: Dossier, file_id: str) -> DossierFile:
    """One file of the dossier; 404 for any other id."""
    row = next((f for f in service.dossier_files(session, dossier) if f.id == file_id), None)
    if row is None:
        raise NotFound(N_("There is no such file in this dossier."))
    return row


def procedure_code_of(engine: Engine, dossier_id: str) -> str | None:
    """The procedure of a dossier, read in a short session of its own (before a request's write transaction)."""
    with unit_of_work(engine) as session:
        return session.exec(select(Dossier.procedure_code).where(Dossier.id == dossier_id)).first()


def timeline(session: Session, dossier: Dossier) -> list[DossierEvent]:
    """The dossier's events, oldest first (ties in recording order)."""
    return list(
        session.exec(
            select(DossierEvent)
            .where(DossierEvent.dossier_id == dossier.id)
            .order_by(col(DossierEvent.at), col(DossierEvent.id))
        )
    )


@dataclass(frozen=True)
class FeeSummary:
    """What a dossier owes and what was paid towards it."""

    bill: FeeBreakdown
    left: int  # đồng still to pay (0 when paid, exempt or free)
    payments: list[Payment]


def fee_summary(session: Session, dossier: Dossier, settings: Settings) -> FeeSummary:
    """The dossier's bill, what is left to pay, and its payments (latest first)."""
    bill = billing.bill_for(procedure(session, dossier.procedure_code), dossier, settings)
    items = payments.payments_of(session, dossier.id)
    left = max(bill.total - billing.paid_towards(session, dossier, items), 0)
    return FeeSummary(bill=bill, left=left, payments=items)


def dossier_page(session: Session, dossier_id: str, account: Account, *, settings: Settings) -> dict[str, Any]:
    """Everything the dossier's own page shows: answers, files, timeline, fee, and for whom it was filed."""
    dossier, proc, defn = dossier_with_form(session, dossier_id, account)
    return {
        "dossier": dossier,
        "proc": proc,
        "agency": session.get(Agency, dossier.agency_code),
        "events": timeline(session, dossier),
        "defn": defn,
        "values": dossier.data,
        "files": service.dossier_files(session, dossier),
        "business": session.get(Business, dossier.business_id) if dossier.business_id else None,
        "fee": fee_summary(session, dossier, settings),
        "parcels": parcel_reads.parcels_of(session, dossier.id),
    }


def files_page(session: Session, dossier: Dossier, *, settings: Settings) -> dict[str, Any]:
    """The dossier's files and the size limits the files page states."""
    files = service.dossier_files(session, dossier)
    return {
        "files": files,
        "used_bytes": sum(f.size for f in files),
        "max_file_mb": settings.max_file_bytes // (1024 * 1024),
        "max_dossier_mb": settings.max_dossier_bytes // (1024 * 1024),
        # The personal document store: what each component may take from it, and the files kept there.
        "store_offers": store_links.offers(session, dossier, procedure(session, dossier.procedure_code)),
        "kept_files": store_links.kept_files(session, dossier),
        # A linked application's components only the members not applied for need: not asked.
        "not_needed": service.unneeded_components(session, procedure(session, dossier.procedure_code), dossier),
    }


def review_page(
    session: Session, dossier: Dossier, proc: Procedure, defn: FormDefinition, *, settings: Settings
) -> dict[str, Any]:
    """What the review page shows: what still stops the submission, the bill and the files."""
    return {
        "ready": service.readiness(session, dossier, proc, defn, settings=settings),
        "fee": billing.bill_for(proc, dossier, settings),
        "files": service.dossier_files(session, dossier),
        "not_needed": service.unneeded_components(session, proc, dossier),
    }


def payment_page(
    session: Session,
    dossier: Dossier,
    *,
    settings: Settings,
    gateways: Mapping[str, PaymentGateway],
    reference: str = "",
    chosen: str | None = None,
) -> dict[str, Any]:
    """The fee page: the bill, the payments and refunds, whether one can pay, and through which gateway."""
    proc = procedure(session, dossier.procedure_code)
    fee = fee_summary(session, dossier, settings)
    items = fee.payments
    files = service.dossier_files(session, dossier)
    return {
        "proc": proc,
        "bill": fee.bill,
        "payments": items,
        "refunds": refunds_of(session, items),
        "left": fee.left,
        "can_pay": fee.left > 0 and dossier.status in PAYABLE and bool(gateways),
        "gateways": gateways,
        "chosen": chosen or (items[0].gateway if items else next(iter(gateways), None)),
        "just": next((p for p in items if p.reference == reference), None) if reference else None,
        "proof_files": [f for f in files if f.component_id == "fee_reduction_proof"],
        # A linked application's one payment collects for each member's agency: the page splits it.
        "by_agency": billing.bill_by_agency(session, fee.bill, dossier.agency_code),
        "receipts": {p.id: agency_receipts(session, p) for p in items if p.status == PaymentStatus.SUCCEEDED},
    }


def succeeded_payment(session: Session, dossier: Dossier, payment_id: str) -> Payment:
    """A succeeded payment of this dossier (the one an e-receipt exists for); 404 for any other."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.order_id != dossier.id or payment.status != PaymentStatus.SUCCEEDED:
        raise NotFound(N_("There is no e-receipt for this payment."))
    return payment


@dataclass(frozen=True)
class PublicStatus:
    """What anyone may learn of a submitted dossier from its code: no personal data."""

    code: str
    status: str
    submitted_at: datetime | None
    due_date: date | None
    procedure: dict[str, str]
    agency: dict[str, str]
    receipt_sha256: str | None
    # A linked application's code: each member's code, procedure, agency, status and date (no personal data).
    members: tuple[linked_pages.MemberFacts, ...] = ()


def public_status(session: Session, code: str) -> PublicStatus | None:
    """The public status of a submitted dossier by its code (drafts have none)."""
    # Only the public columns are read: the applicant's answers never leave the database here.
    row = session.execute(
        sa_select(
            col(Dossier.code),
            col(Dossier.status),
            col(Dossier.submitted_at),
            col(Dossier.due_date),
            col(Procedure.name_vi),
            col(Procedure.name_en),
            col(Agency.name_vi),
            col(Agency.name_en),
            col(Dossier.receipt_sha256),
            col(Dossier.linked_role),
            col(Dossier.id),
        )
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .join(Agency, col(Agency.code) == col(Dossier.agency_code))
        .where(col(Dossier.code) == code, *submitted_only())
    ).first()
    if row is None:
        return None
    parent = session.get(Dossier, row[10]) if row[9] == linked_pages.PARENT else None
    return PublicStatus(
        code=row[0],
        status=row[1],
        submitted_at=row[2],
        due_date=row[3],
        procedure={"vi": row[4], "en": row[5]},
        agency={"vi": row[6], "en": row[7]},
        receipt_sha256=row[8],
        members=tuple(linked_pages.member_facts(session, parent)) if parent is not None else (),
    )


# -- what partner machines read (agency back-offices, postal operators)

PARENT = "parent"
CHILD = "child"


def not_parent() -> ColumnElement[bool]:
    """Not the parent of a linked application (the citizen's one application: no agency handles it, no partner
    reads it, the statistics never count it; docs/LINKED.md)."""
    return or_(col(Dossier.linked_role).is_(None), col(Dossier.linked_role) != PARENT)


def never_filed() -> ColumnElement[bool]:
    """A member of a linked application not yet filed with its agency: still waiting for another member's
    result, or closed while it waited (rejected with the member it depended on, withdrawn with the application)
    and so never released (`LINKED_WAITING` without `LINKED_RELEASED`)."""

    def has(kind: DossierEventKind) -> ColumnElement[bool]:
        # An alias: correlated with the dossier only, also inside a query that reads the events themselves.
        event = DossierEvent.__table__.alias("linked_event")  # type: ignore[attr-defined]
        return exists().where(event.c.dossier_id == col(Dossier.id), event.c.kind == kind.value)

    return and_(
        col(Dossier.linked_role) == CHILD,
        or_(
            col(Dossier.status) == DossierStatus.WAITING,
            and_(has(DossierEventKind.LINKED_WAITING), not_(has(DossierEventKind.LINKED_RELEASED))),
        ),
    )


def filed_with_agency() -> tuple[ColumnElement[bool], ...]:
    """Conditions for the dossiers an agency handles and its back-office may read: submitted (`submitted_only`),
    not a linked application's parent, not a member waiting for another member's result (it appears in the
    change feed, as a new change, when it is released to its agency)."""
    return (
        *submitted_only(),
        not_parent(),
        or_(col(Dossier.linked_role).is_(None), not_(never_filed())),
    )


def _since(since: datetime | None) -> list[ColumnElement[bool]]:
    if since is None:
        return []
    return [col(Dossier.submitted_at) >= (since if since.tzinfo else since.replace(tzinfo=UTC))]


def _count(session: Session, conditions: list[ColumnElement[bool]]) -> int:
    return int(session.exec(select(func.count()).select_from(Dossier).where(*conditions)).one())


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of rows, and how many there are in all."""

    rows: list[T]
    total: int


def agency_dossiers(
    session: Session,
    agency_code: str | None,
    *,
    status: DossierStatus | None,
    since: datetime | None,
    page: int,
    page_size: int,
) -> Paged[tuple[Dossier, str]]:
    """An agency's submitted dossiers with the applicant's name, newest first."""
    conditions = [col(Dossier.agency_code) == agency_code, *filed_with_agency(), *_since(since)]
    if status is not None:
        conditions.append(col(Dossier.status) == status)
    rows = session.exec(
        select(Dossier, Account.full_name)
        .join(Account, col(Account.id) == col(Dossier.applicant_id))
        .where(*conditions)
        .order_by(col(Dossier.submitted_at).desc(), col(Dossier.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return Paged(rows=[(d, name) for d, name in rows], total=_count(session, conditions))


def agency_dossier(session: Session, code: str, agency_code: str | None, *, lock: bool = False) -> Dossier:
    """A submitted dossier of the agency by code; any other code (another agency's too) is a 404."""
    stmt = select(Dossier).where(
        col(Dossier.code) == code[:40], col(Dossier.agency_code) == agency_code, *filed_with_agency()
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    dossier = session.exec(stmt).first()
    if dossier is None:
        raise NotFound(N_("There is no dossier with this code."))
    return dossier


def agency_dossier_detail(
    session: Session, code: str, agency_code: str | None
) -> tuple[Dossier, str, list[DossierFile]]:
    """A submitted dossier of the agency with the applicant's name and its files; 404 for any other code."""
    dossier, name = agency_dossier_and_applicant(session, code, agency_code)
    return dossier, name, service.dossier_files(session, dossier)


def agency_dossier_and_applicant(session: Session, code: str, agency_code: str | None) -> tuple[Dossier, str]:
    """A submitted dossier of the agency with the applicant's name; 404 for any other code."""
    row = session.exec(
        select(Dossier, Account.full_name)
        .join(Account, col(Account.id) == col(Dossier.applicant_id))
        .where(col(Dossier.code) == code[:40], col(Dossier.agency_code) == agency_code, *filed_with_agency())
    ).first()
    if row is None:
        raise NotFound(N_("There is no dossier with this code."))
    return row[0], row[1]
