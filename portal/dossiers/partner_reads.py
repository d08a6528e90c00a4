"""What an agency's back-office reads through the partner API: the change feed and one dossier whole.

Reads only. Every function takes the client's agency and sees only the submitted dossiers filed with that agency
(`queries.filed_with_agency()`: never a linked application's parent, nor a member still waiting for another
member's result); any other dossier is the same 404 as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import exists
from sqlmodel import Session, col, select

from auth.models import Account
from payments import service as payments
from payments.models import Payment, Refund
from payments.queries import refunds_of
from payments.serialize import PaymentInfo
from portal.catalog.models import Procedure
from portal.dossiers import billing, parcel_reads, queries, service
from portal.dossiers.models import (
    Dossier,
    DossierApology,
    DossierChangeCounter,
    DossierEvent,
    DossierFile,
    DossierRating,
    DossierResult,
    SupplementRequest,
)
from portal.dossiers.parcel_reads import Parcel
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.i18n import N_


@dataclass(frozen=True)
class ChangePage:
    """Dossiers changed after a point of the feed, in change order, and where the next read starts."""

    rows: list[tuple[Dossier, str]]
    next_seq: int


def last_change(session: Session) -> int:
    """The latest change number given out and committed (0 before the first change)."""
    value = session.exec(select(DossierChangeCounter.last).where(DossierChangeCounter.id == 1)).first()
    return int(value or 0)


def changes(
    session: Session, agency_code: str | None, *, after: int, changed_since: datetime | None, limit: int
) -> ChangePage:
    """The agency's dossiers whose latest change number is above `after`, lowest first.

    Change numbers come from one counter row that each change increments in its own transaction and keeps
    locked until it commits: a number becomes visible only after every smaller one has. So reading the
    counter first and then the dossiers, every change up to that counter value is already visible, and the
    next read can start from it (when this page is not full) without skipping a change still in flight.

    A point beyond the counter was never given out (every cursor is at most the counter it read, and the
    counter only grows): it is refused, not answered with an empty page forever after, which would hide
    every change up to it (a forged cursor, or one kept from before the database was restored).
    """
    horizon = last_change(session)  # read first: see the docstring
    if after > horizon:
        raise Invalid(N_("This cursor was not given out by this API; start again without one."))
    conditions = [
        col(Dossier.agency_code) == agency_code,
        *queries.filed_with_agency(),
        col(Dossier.change_seq) > after,
    ]
    if changed_since is not None:
        since = changed_since if changed_since.tzinfo else changed_since.replace(tzinfo=UTC)
        conditions.append(
            exists().where(col(DossierEvent.dossier_id) == col(Dossier.id), col(DossierEvent.at) >= since)
        )
    rows = [
        (d, name)
        for d, name in session.exec(
            select(Dossier, Account.full_name)
            .join(Account, col(Account.id) == col(Dossier.applicant_id))
            .where(*conditions)
            .order_by(col(Dossier.change_seq), col(Dossier.id))
            .limit(limit)
        ).all()
    ]
    next_seq = rows[-1][0].change_seq if len(rows) == limit else max([after, horizon, *(d.change_seq for d, _ in rows)])
    return ChangePage(rows=rows, next_seq=next_seq)


@dataclass(frozen=True)
class DossierWhole:
    """One dossier and everything the back-office may read of it."""

    dossier: Dossier
    applicant_name: str
    procedure: Procedure
    files: list[DossierFile]
    events: list[DossierEvent]
    supplements: list[SupplementRequest]
    results: list[DossierResult]
    apologies: list[DossierApology]
    rating: DossierRating | None
    payments: list[Payment]
    refunds: list[Refund]
    parcels: list[Parcel] = field(default_factory=list)  # postal orders: pickup of originals, delivery
    # The payments as the agency reads them: a linked member's share of its application's payment, else its own.
    payment_info: list[PaymentInfo] = field(default_factory=list)


def dossier_whole(session: Session, code: str, agency_code: str | None) -> DossierWhole:
    """A submitted dossier of the agency with its files, timeline, supplements, results, apologies, rating,
    payments and postal orders; 404 for any other code."""
    dossier, name = queries.agency_dossier_and_applicant(session, code, agency_code)
    proc = session.get(Procedure, dossier.procedure_code)
    if proc is None:  # a foreign key: cannot happen
        raise NotFound(N_("There is no procedure with this code."))
    mine = (col(SupplementRequest.dossier_id) == dossier.id,)
    items = payments.payments_of(session, dossier.id)
    return DossierWhole(
        dossier=dossier,
        applicant_name=name,
        procedure=proc,
        files=service.dossier_files(session, dossier),
        events=list(
            session.exec(
                select(DossierEvent)
                .where(DossierEvent.dossier_id == dossier.id)
                .order_by(col(DossierEvent.at), col(DossierEvent.id))
            )
        ),
        supplements=list(
            session.exec(select(SupplementRequest).where(*mine).order_by(col(SupplementRequest.requested_at)))
        ),
        results=list(
            session.exec(
                select(DossierResult)
                .where(DossierResult.dossier_id == dossier.id)
                .order_by(col(DossierResult.created_at), col(DossierResult.id))
            )
        ),
        apologies=list(
            session.exec(
                select(DossierApology)
                .where(DossierApology.dossier_id == dossier.id)
                .order_by(col(DossierApology.at), col(DossierApology.id))
            )
        ),
        rating=session.get(DossierRating, dossier.id),
        payments=items,
        refunds=list(refunds_of(session, items)),
        parcels=parcel_reads.parcels_of(session, dossier.id),
        payment_info=billing.partner_payments(session, dossier),
    )


def agency_file(session: Session, code: str, agency_code: str | None, file_id: str) -> tuple[Dossier, DossierFile]:
    """One component file of one of the agency's dossiers; 404 for anything else."""
    dossier, _ = queries.agency_dossier_and_applicant(session, code, agency_code)
    row = session.exec(
        select(DossierFile).where(DossierFile.dossier_id == dossier.id, DossierFile.id == file_id[:32])
    ).first()
    if row is None:
        raise NotFound(N_("There is no such file in this dossier."))
    return dossier, row


def agency_result(
    session: Session, code: str, agency_code: str | None, result_id: str
) -> tuple[Dossier, DossierResult]:
    """One result document of one of the agency's dossiers; 404 for anything else."""
    dossier, _ = queries.agency_dossier_and_applicant(session, code, agency_code)
    row = session.exec(
        select(DossierResult).where(DossierResult.dossier_id == dossier.id, DossierResult.id == result_id[:32])
    ).first()
    if row is None:
        raise NotFound(N_("There is no such result in this dossier."))
    return dossier, row
