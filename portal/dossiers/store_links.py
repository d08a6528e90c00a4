"""The dossier's side of the personal document store (docs/DOCUMENTS.md).

Results go into the applicant's (or the business's) store when they are issued; an uploaded file may be kept
there; a later dossier takes a kept document for a component of the same `doc_type` instead of a new upload.
The store itself (`portal.documents`) knows no dossier: this module is the only one that links the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from auth.models import Account
from forms.uploads import UploadRejected, combine_size_ok
from portal.catalog.models import Agency, Component, Procedure
from portal.documents import service as store
from portal.documents.models import DocumentSource, StoredDocument
from portal.dossiers.events import ResultIssued
from portal.dossiers.models import Dossier, DossierEventKind, DossierFile, DossierStatus
from portal.dossiers.service import TYPE_NAMES, add_event, dossier_files, supplement_targets
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, DomainError, Invalid, NotFound
from portal.kernel.events import subscribe
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings

# How a result kept in the store (and a dossier file taken from it) is signed: by the issuing agency,
# validated when the result was issued (`DossierFile.signature`: None, "portal", "uploaded" or this).
AGENCY_SIGNED = "agency"
MAX_FILES_PER_COMPONENT = 20


def owner_of(dossier: Dossier) -> store.Owner:
    """The store a dossier's documents go to and come from: its business's, or its applicant's."""
    return store.Owner.of(dossier.applicant_id, dossier.business_id)


@store.agency_names.provide
def agency_names(session: Session, codes: Sequence[str]) -> dict[str, dict[str, str]]:
    """The catalogue's names ({vi, en}) of these agencies, by code (the store shows an issuer in the page's
    language; unknown codes are left out)."""
    if not codes:
        return {}
    rows = session.exec(select(Agency).where(col(Agency.code).in_(list(codes)))).all()
    return {a.code: {"vi": a.name_vi, "en": a.name_en} for a in rows}


# -- results into the store


@subscribe(ResultIssued)
def keep_results(session: Session, event: ResultIssued) -> None:
    """Each result of the dossier kept in its owner's store, typed by the procedure's `result_doc_type` (else
    its code), with its issuer, date, signature report and expiry (`result_valid_days`). Once per result."""
    dossier = event.dossier
    procedure = session.get(Procedure, dossier.procedure_code)
    if procedure is None:
        return
    agency = session.get(Agency, dossier.agency_code)
    for result in event.results:
        issued_on = local_date(result.created_at)
        valid = procedure.result_valid_days
        store.keep(
            session,
            owner=owner_of(dossier),
            source=DocumentSource.RESULT,
            doc_type=procedure.result_doc_type or procedure.code,
            name_vi=procedure.result_vi or procedure.name_vi,
            name_en=procedure.result_en or procedure.name_en,
            issuer=agency.name_vi if agency is not None else dossier.agency_code,
            issuer_code=dossier.agency_code,
            issued_on=issued_on,
            expires_on=issued_on + timedelta(days=valid) if valid else None,
            filename=result.filename,
            # The PDF exactly as the agency signed it: its report is the one kept (the portal's sealed copy
            # beside it is for /verify).
            storage_key=result.storage_key,
            sha256=result.sha256,
            size=result.size,
            pages=result.pages,
            signature=AGENCY_SIGNED,
            signature_report=result.signature_report,
            source_ref=dossier.code or "",
            source_dossier_id=dossier.id,
            source_row_id=result.id,
        )


# -- an uploaded file kept


def keep_upload(session: Session, dossier: Dossier, procedure: Procedure, file_id: str) -> StoredDocument:
    """Keep one of the dossier's files in its owner's store (once), for a component that has a `doc_type`."""
    row = session.get(DossierFile, file_id) if store.is_row_id(file_id) else None
    if row is None or row.dossier_id != dossier.id:
        raise NotFound(N_("There is no such file in this dossier."))
    component = procedure.component(row.component_id)
    if component is None or not component.doc_type:
        raise Invalid(
            N_("This document is not of a kind other procedures ask for, so it cannot be kept in your documents."),
            status_code=400,
        )
    if row.reused_from:
        kept = session.get(StoredDocument, row.reused_from)
        if kept is not None:
            return kept
    return store.keep(
        session,
        owner=owner_of(dossier),
        source=DocumentSource.UPLOAD,
        doc_type=component.doc_type,
        name_vi=component.name.vi,
        name_en=component.name.en,
        issued_on=store.today(),
        filename=row.filename,
        storage_key=row.storage_key,
        sha256=row.sha256,
        size=row.size,
        pages=row.pages,
        signature=row.signature,
        signature_report=row.signature_report,
        source_ref=dossier.code or "",
        source_dossier_id=dossier.id,
        source_row_id=row.id,
    )


def kept_files(session: Session, dossier: Dossier) -> set[str]:
    """Ids of the dossier's files already in its owner's store (kept from here, or taken from there)."""
    files = dossier_files(session, dossier)
    ids = [f.id for f in files]
    if not ids:
        return set()
    kept = set(
        session.exec(
            select(StoredDocument.source_row_id).where(
                owner_of(dossier).condition(), col(StoredDocument.source_row_id).in_(ids)
            )
        )
    )
    return {f.id for f in files if f.id in kept or f.reused_from}


# -- a kept document taken into a dossier


@dataclass(frozen=True)
class Offer:
    """A store document a component may take."""

    document: StoredDocument
    in_use: bool  # already attached to this component
    issuer: dict[str, str] | None = None  # the issuing agency's names ({vi, en}) when the catalogue knows it


def offers(session: Session, dossier: Dossier, procedure: Procedure) -> dict[str, list[Offer]]:
    """For each component with a `doc_type`, the owner's documents of that type that have not expired."""
    typed = [c for c in procedure.component_list if c.doc_type]
    if not typed:
        return {}
    docs = store.usable(session, owner_of(dossier), [c.doc_type for c in typed if c.doc_type])
    used = {(f.component_id, f.reused_from) for f in dossier_files(session, dossier) if f.reused_from}
    issuers = store.issuers_of(session, docs)
    return {
        c.id: [
            Offer(d, (c.id, d.id) in used, issuers.get(d.issuer_code or "")) for d in docs if d.doc_type == c.doc_type
        ]
        for c in typed
        if any(d.doc_type == c.doc_type for d in docs)
    }


def _changeable(session: Session, dossier: Dossier, component_id: str) -> None:
    if dossier.status == DossierStatus.DRAFT:
        return
    if dossier.status == DossierStatus.SUPPLEMENT_REQUESTED:
        if component_id in supplement_targets(session, dossier)[1]:
            return
        raise Conflict(
            N_("The agency did not ask for this document: only the documents named in its request can be changed.")
        )
    raise Conflict(N_("This dossier has already been submitted and can no longer be changed."))


def _check_fits(component: Component, doc: StoredDocument, files: list[DossierFile], settings: Settings) -> None:
    if doc.doc_type != component.doc_type:
        raise Invalid(
            N_("This document is not of the kind this component asks for: choose another one or upload a file."),
            status_code=400,
        )
    if store.is_expired(doc):
        raise Conflict(
            N_("This document expired on {date}: it can no longer be used. Upload a current one."),
            {"date": doc.expires_on.strftime("%d/%m/%Y") if doc.expires_on else ""},
        )
    if TYPE_NAMES.get(doc.media_type) not in component.accepts:
        raise DomainError(
            N_("This component accepts only {types} files."),
            {"types": ", ".join(t.upper() for t in component.accepts)},
            status_code=415,
        )
    if component.signature_required and not doc.signature:
        raise Invalid(N_("This document must carry a digital signature."))
    same = [f for f in files if f.component_id == component.id]
    if component.multiple and len(same) >= MAX_FILES_PER_COMPONENT:
        raise Invalid(N_("At most {n} files can be attached to one component."), {"n": MAX_FILES_PER_COMPONENT})
    replaced = same if not component.multiple else []
    try:
        combine_size_ok(sum(f.size for f in files if f not in replaced), doc.size, max_total=settings.max_dossier_bytes)
    except UploadRejected as exc:
        raise DomainError(exc.msgid, {**exc.params, "file": doc.filename}, status_code=413) from exc


def reuse(
    *,
    session: Session,
    settings: Settings,
    dossier: Dossier,
    procedure: Procedure,
    component_id: str,
    document_id: str,
    by: Account,
) -> DossierFile:
    """Attach a store document to a component: a new file row on the same stored object (nothing uploaded or
    copied), `reused_from` naming the document, its signature and report kept.

    A document of another store is 404 (as a missing one), of another type 400, expired 409. Taking the same
    document again for the same component returns the file already attached.
    """
    component = procedure.component(component_id)
    if component is None:
        raise NotFound(N_("This dossier has no such component."))
    _changeable(session, dossier, component_id)
    doc = store.by_id(session, document_id)
    if doc is None or not owner_of(dossier).owns(doc):
        raise NotFound(store.NOT_FOUND)
    files = dossier_files(session, dossier)
    already = next((f for f in files if f.component_id == component_id and f.reused_from == doc.id), None)
    if already is not None:
        return already
    _check_fits(component, doc, files, settings)
    row = DossierFile(
        dossier_id=dossier.id,
        component_id=component_id,
        filename=doc.filename,
        storage_key=doc.storage_key,
        sha256=doc.sha256,
        media_type="application/pdf",
        original_media_type=doc.media_type,
        size=doc.size,
        pages=doc.pages,
        signature=doc.signature,
        signature_report=dict(doc.signature_report) if doc.signature_report else None,
        reused_from=doc.id,
    )
    session.add(row)
    if not component.multiple:
        for old in files:
            if old.component_id == component_id:
                session.delete(old)
    add_event(
        session,
        dossier,
        DossierEventKind.DOCUMENT_REUSED.value,
        actor=by.full_name,
        component=component_id,
        document=doc.id,
        doc_type=doc.doc_type,
        name={"vi": doc.name_vi, "en": doc.name_en},
        issuer=doc.issuer,
    )
    dossier.updated_at = utcnow()
    dossier.answers_checked = False
    session.add(dossier)
    session.flush()
    return row
